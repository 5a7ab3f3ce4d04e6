// etcd for the local cluster: the same three lines as upstream's main package
// (go.etcd.io/etcd/server/v3), in a module of ours because server/v3's go.mod replaces its
// sibling modules with relative paths (../api, ../client/...) that a module download lacks.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
