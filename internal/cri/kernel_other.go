//go:build !linux

package cri

import runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

// processUser: only Linux's containers have a user to answer.
func processUser(pid int) *runtimeapi.ContainerUser { return nil }

// recursiveReadOnlyMounts: a Linux kernel's feature.
func recursiveReadOnlyMounts() bool { return false }
