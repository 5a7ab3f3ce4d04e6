//go:build tools

// metrics-server (the metrics.k8s.io API behind `kubectl top` and CPU HorizontalPodAutoscalers),
// built from its module and run in the cluster from an image of ours.
package tools

import _ "sigs.k8s.io/metrics-server/cmd/metrics-server"
