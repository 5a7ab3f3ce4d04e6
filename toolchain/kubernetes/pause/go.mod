module mlendpoints.local/toolchain/kubernetes/pause

go 1.24.0
