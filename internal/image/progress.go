package image

// Progress is one event of a long operation (pull, push, load, import),
// shaped like the Docker Engine's JSON messages so that the API server
// can pass it on: {"status": Status, "id": ID, "progressDetail":
// {"current": Current, "total": Total}}. Image-level messages ("Digest:
// sha256:…", "Status: Downloaded newer image for busybox:latest") have no
// ID. The store calls a progress function from one goroutine at a time.
type Progress struct {
	// ID is the short (12-digit) digest of the layer the event is about.
	ID     string
	Status string
	// Current and Total are bytes; 0 when the event has no progress.
	Current int64
	Total   int64
}
