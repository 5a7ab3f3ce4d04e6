// pause: the sandbox ("infra") container of every pod, in place of registry.k8s.io/pause, which
// cannot be pulled here. It holds the pod's namespaces open, reaps the zombies of processes
// re-parented to it (it is PID 1 of pods that share their PID namespace), and exits 0 on SIGINT
// or SIGTERM, as upstream's C program does.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Version is set with -X at build time.
var Version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause (mlendpoints)", Version)
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			fmt.Fprintf(os.Stderr, "Shutting down, got signal: %v\n", sig)
			os.Exit(0)
		}
		for { // reap every exited child; SIGCHLDs coalesce
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
