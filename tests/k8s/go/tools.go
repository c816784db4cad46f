//go:build tools

// Package tools pins the control-plane programs that build.sh compiles
// from this module's dependency graph (the classic tools.go pattern:
// the file is never built, it only keeps the modules in go.mod/go.sum).
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
