package wine

import (
	"sync"

	"golang.org/x/sys/windows/registry"
)

// Running reports whether this process runs under Wine: Wine keeps its own
// settings under HKEY_LOCAL_MACHINE\Software\Wine, which Windows never has.
var Running = sync.OnceValue(func() bool {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `Software\Wine`, registry.QUERY_VALUE)
	if err != nil {
		return false
	}
	k.Close()
	return true
})
