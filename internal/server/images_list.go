package server

import (
	"net/http"

	"github.com/moby/moby/api/types/image"
)

// imageSummaryV143 is an image summary of API ≤ 1.43, which also carried
// VirtualSize (the same as Size since 1.40).
type imageSummaryV143 struct {
	image.Summary
	VirtualSize int64 `json:"VirtualSize"`
}

// imageList is GET /images/json with each version's shape, as dockerd:
// the old filter parameter (a reference glob) before 1.41; shared-size
// from 1.42; untagged images as <none>:<none> and <none>@<none> before
// 1.43 (RepoTags and RepoDigests empty lists after); VirtualSize before
// 1.44; Containers counted from 1.51 (-1 before). digests is accepted
// and, as with dockerd, changes nothing: RepoDigests are always there.
func (s *Server) imageList(w http.ResponseWriter, r *http.Request) error {
	v := requestVersion(r)
	f, err := queryFilters(r)
	if err != nil {
		return err
	}
	if p := r.URL.Query().Get("filter"); p != "" && versionLess(v, "1.41") {
		f.Add("reference", p)
	}
	sharedSize := !versionLess(v, "1.42") && boolValue(r, "shared-size")
	list, err := s.backend.ImageList(r.Context(), boolValue(r, "all"), sharedSize, f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []image.Summary{}
	}
	for i := range list {
		im := &list[i]
		if versionLess(v, "1.43") {
			if len(im.RepoTags) == 0 && len(im.RepoDigests) == 0 {
				im.RepoTags, im.RepoDigests = []string{"<none>:<none>"}, []string{"<none>@<none>"}
			}
		} else {
			im.RepoTags, im.RepoDigests = nonNilStrings(im.RepoTags), nonNilStrings(im.RepoDigests)
		}
		if versionLess(v, "1.51") {
			im.Containers = -1
		}
	}
	if versionLess(v, "1.44") {
		old := make([]imageSummaryV143, len(list))
		for i, im := range list {
			old[i] = imageSummaryV143{Summary: im, VirtualSize: im.Size}
		}
		return writeJSON(w, http.StatusOK, old)
	}
	return writeJSON(w, http.StatusOK, list)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
