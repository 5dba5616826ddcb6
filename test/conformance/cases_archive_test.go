package conformance

import (
	"bytes"
	"context"
	"time"

	"github.com/moby/moby/client"
)

// copyTar is what the archive cases copy into containers.
var copyTar = tarOf([]string{"conf-copied/", "conf-copied/a.txt", "b.txt"}, map[string]string{"conf-copied/a.txt": "a\n", "b.txt": "b\n"})

func archiveCases() []*tcase {
	statOf := func(path string) *step { return head("/containers/{a}/archive?path=" + q(path)) }
	getArchive := func(path string) *step { return get("/containers/{a}/archive?path=" + q(path)).tarList() }
	putArchive := func(path string, body []byte) *step { return put("/containers/{a}/archive?path="+q(path), body) }
	cases := []*tcase{
		tcs("archive/stat/file", mk("a", nil), statOf("/etc/passwd")),
		tcs("archive/stat/dir", mk("a", nil), statOf("/etc")),
		tcs("archive/stat/symlink", mk("a", nil), statOf("/bin/sh")),
		tcs("archive/stat/missing-path", mk("a", nil), statOf("/nope")),
		tcs("archive/stat/missing-path-body", mk("a", nil), get("/containers/{a}/archive?path=/nope")),
		tcs("archive/stat/missing-container", head("/containers/conf-nope/archive?path=/etc")),
		tcs("archive/stat/no-path", mk("a", nil), head("/containers/{a}/archive")),
		tcs("archive/stat/sdk", mk("a", nil), sdk("ContainerStatPath", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			return c.ContainerStatPath(ctx, x("{a}"), client.ContainerStatPathOptions{Path: "/etc/group"})
		})),
		tcs("archive/stat/sdk-missing", mk("a", nil), sdk("ContainerStatPath", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			return c.ContainerStatPath(ctx, x("{a}"), client.ContainerStatPathOptions{Path: "/nope"})
		})),
		tcs("archive/get/file", mk("a", nil), getArchive("/etc/passwd")),
		tcs("archive/get/dir", mk("a", nil), getArchive("/etc")),
		tcs("archive/get/dir-contents", mk("a", nil), getArchive("/etc/.")),
		tcs("archive/get/file-as-dir", mk("a", nil), getArchive("/etc/passwd/")),
		tcs("archive/get/missing", mk("a", nil), getArchive("/nope")),
		tcs("archive/get/no-path", mk("a", nil), get("/containers/{a}/archive")),
		tcs("archive/get/nul-path", mk("a", nil), get("/containers/{a}/archive?path="+q("/etc\x00x"))),
		tcs("archive/get/missing-container", get("/containers/conf-nope/archive?path=/etc")),
		tcs("archive/get/running", mkRunning("a", nil, "sh", "-c", "echo run > /tmp/r; sleep 300"), getArchive("/tmp/r").after(500*time.Millisecond)),
		tcs("archive/get/volume", mkExited("a", hc(obj{"Binds": []string{"conf-v:/data"}}), "sh", "-c", "echo vol > /data/f"), getArchive("/data/f")),
		tcs("archive/put/ok", mk("a", nil), putArchive("/tmp", copyTar), getArchive("/tmp")),
		tcs("archive/put/running", mkRunning("a", nil), putArchive("/tmp", copyTar), getArchive("/tmp/conf-copied")),
		tcs("archive/put/missing-dir", mk("a", nil), putArchive("/nope", copyTar)),
		tcs("archive/put/onto-file", mk("a", nil), putArchive("/etc/passwd", copyTar)),
		tcs("archive/put/garbage", mk("a", nil), putArchive("/tmp", []byte("not a tar archive at all, not even close"))),
		tcs("archive/put/empty", mk("a", nil), putArchive("/tmp", []byte{})),
		tcs("archive/put/no-path", mk("a", nil), put("/containers/{a}/archive", copyTar)),
		tcs("archive/put/missing-container", put("/containers/conf-nope/archive?path=/tmp", copyTar)),
		tcs("archive/put/readonly-rootfs", mk("a", hc(obj{"ReadonlyRootfs": true})), putArchive("/tmp", copyTar)),
		tcs("archive/put/no-overwrite-dir-non-dir", mk("a", nil),
			putArchive("/", tarOf([]string{"tmp"}, map[string]string{"tmp": "file over a folder\n"}))),
		tcs("archive/put/no-overwrite-dir-non-dir-flag", mk("a", nil),
			put("/containers/{a}/archive?path=/&noOverwriteDirNonDir=1", tarOf([]string{"tmp"}, map[string]string{"tmp": "file over a folder\n"}))),
		tcs("archive/put/into-volume", mk("a", hc(obj{"Binds": []string{"conf-v:/data"}})), putArchive("/data", copyTar), getArchive("/data")),
		tcs("archive/put/sdk", mk("a", nil), sdk("CopyToContainer", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			return c.CopyToContainer(ctx, x("{a}"), client.CopyToContainerOptions{DestinationPath: "/tmp", Content: bytes.NewReader(copyTar)})
		}), getArchive("/tmp/b.txt")),
		tcs("archive/put/sdk-missing-dir", mk("a", nil), sdk("CopyToContainer", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			return c.CopyToContainer(ctx, x("{a}"), client.CopyToContainerOptions{DestinationPath: "/nope", Content: bytes.NewReader(copyTar)})
		})),
	}
	for _, tool := range []string{"gzip", "bzip2", "xz", "zstd"} {
		cases = append(cases, compressedCase("archive/put/"+tool, tool, copyTar, func(body []byte) []*step {
			return []*step{mk("a", nil), putArchive("/tmp", body), getArchive("/tmp/conf-copied")}
		}))
	}
	return cases
}
