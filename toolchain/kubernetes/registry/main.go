// The image registry of the local cluster: upstream's cmd/registry main package with only the
// filesystem storage driver (no cloud SDKs to build). `docker push 127.0.0.1:<port>/...` stores
// images here; the cluster's containerd pulls them from the same address.
package main

import (
	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

func main() {
	// As upstream: the registered commands exit non-zero themselves when they fail.
	_ = registry.RootCmd.Execute()
}
