package daemon

import "github.com/hullproject/hull/internal/image"

// SetRegistries gives the daemon its mirrors and insecure registries:
// every pull of the image store follows them, and /info shows them.
// Call it before the API is served.
func (d *Daemon) SetRegistries(rs image.Registries) {
	d.cfg.Registries = rs
	d.images.SetRegistries(rs)
}
