"""The Kubernetes target: online endpoints as Deployments, Services and an autoscaler (pulumi-kubernetes)."""
