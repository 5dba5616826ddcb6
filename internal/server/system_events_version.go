package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/events"
)

// The JSON stream types /events can answer in, as dockerd offers them.
var eventTypes = []string{"application/jsonl", "application/x-ndjson", "application/json-seq"}

// eventsEncoder gives /events' Content-Type and how each event is written,
// as dockerd does: the type the Accept header asks for among eventTypes
// (exact names, the highest q; none by default), else application/jsonl
// from API 1.52 and application/json before; application/json-seq frames
// each event with RS (RFC 7464). Before 1.52 an event also carries the
// fields removed in 1.22 (status, id, from) that older clients read;
// image create events (1.46) are not sent to older versions.
func eventsEncoder(r *http.Request, w io.Writer) (contentType string, encode func(events.Message) error) {
	ctx := r.Context()
	contentType = "application/jsonl"
	if before(ctx, "1.52") {
		contentType = "application/json"
	}
	if ct := acceptStrict(r.Header.Get("Accept"), eventTypes); ct != "" {
		contentType = ct
	}
	enc := json.NewEncoder(w)
	return contentType, func(m events.Message) error {
		if before(ctx, "1.46") && m.Type == events.ImageEventType && m.Action == events.ActionCreate {
			return nil
		}
		var v any = m
		if before(ctx, "1.52") && (m.Type == events.ContainerEventType || m.Type == events.ImageEventType) {
			sh, err := shapeOf(m)
			if err != nil {
				return err
			}
			// dockerd's fields are omitempty: a prune event (no actor)
			// has no id, and from only when there is an image.
			legacy := map[string]any{"status": string(m.Action)}
			if m.Actor.ID != "" {
				legacy["id"] = m.Actor.ID
			}
			if from := m.Actor.Attributes["image"]; m.Type == events.ContainerEventType && from != "" {
				legacy["from"] = from
			}
			sh.add(legacy)
			v = sh
		}
		if contentType == "application/json-seq" {
			if _, err := w.Write([]byte{0x1e}); err != nil {
				return err
			}
		}
		return enc.Encode(v)
	}
}

// acceptStrict is the offer the Accept header names exactly with the
// highest quality (q=0 refuses it), the first offer on a tie; "" when it
// names none. Wildcards do not count, as with dockerd.
func acceptStrict(accept string, offers []string) string {
	best, bestQ := "", -1.0
	for _, offer := range offers {
		for _, part := range strings.Split(accept, ",") {
			fields := strings.Split(part, ";")
			if !strings.EqualFold(strings.TrimSpace(fields[0]), offer) {
				continue
			}
			q := 1.0
			for _, p := range fields[1:] {
				if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
					if f, err := strconv.ParseFloat(v, 64); err == nil {
						q = f
					}
				}
			}
			if q > 0 && q > bestQ {
				best, bestQ = offer, q
			}
		}
	}
	return best
}
