package conformance

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/moby/moby/client"
)

// regAuth is the X-Registry-Auth of {reg}'s user.
var regAuth = base64.URLEncoding.EncodeToString([]byte(`{"username":"conf","password":"conf-pw"}`))

// importTar is a small root file system for the import cases.
var importTar = tarOf([]string{"etc/", "etc/imported"}, map[string]string{"etc/imported": "imported\n"})

// buildTar is a build context: a Dockerfile on the seeded busybox, and
// bad.Dockerfile with an unknown instruction on its line 3.
var buildTar = tarOf([]string{"Dockerfile", "a.txt", "bad.Dockerfile"}, map[string]string{
	"Dockerfile": "FROM " + imgBusybox + "\nCOPY a.txt /conf-built\nCMD [\"cat\", \"/conf-built\"]\n", "a.txt": "built\n",
	"bad.Dockerfile": "FROM " + imgBusybox + "\nCOPY a.txt /conf-built\nFROMM nowhere\n"})

// escapeTars are build contexts that try to write out of the context: a
// file through a symbolic link out of it, a hard link to a file out of it.
var escapeTars = map[string][]byte{
	"link-out": layerTar([]tarEntry{{name: "Dockerfile", mode: 0o644, typ: '0', body: []byte("FROM " + imgBusybox + "\n")},
		{name: "out", link: "../../../../../../tmp/conf-outside", typ: '2', mode: 0o777}, {name: "out/x", mode: 0o644, typ: '0', body: []byte("x")}}),
	"hardlink-out": layerTar([]tarEntry{{name: "Dockerfile", mode: 0o644, typ: '0', body: []byte("FROM " + imgBusybox + "\n")},
		{name: "h", link: "../../../../etc/hostname", typ: '1', mode: 0o644}}),
}

// imageCases; seedTar is the seed archive (the load cases load it again).
func imageCases(seedTar []byte) []*tcase {
	inspect := func(ref string) *step { return get("/images/" + ref + "/json") }
	list := func(query string) *step { return get("/images/json?" + query).anyOrder() }
	load := func(body []byte) *step {
		return post("/images/load", body).ctypeIs("application/x-tar")
	}
	imp := func(query string, body []byte) *step {
		return post("/images/create?fromSrc=-&"+query, body).ctypeIs("application/x-tar")
	}
	// pull pulls {reg}/repo:tag with the X-Registry-Auth auth (none when "").
	pull := func(repo, tag, auth string) *step {
		s := post("/images/create?fromImage="+q("{reg}/"+repo)+"&tag="+tag, nil)
		if auth != "" {
			s = s.header("X-Registry-Auth", auth)
		}
		return s
	}
	cases := []*tcase{
		// Lists and filters.
		tcs("image/list/default", list("")),
		tcs("image/list/all", list("all=1")),
		// Newest first, as dockerd sorts them (by Created, in seconds: the
		// second import a second later; the seed's images tie).
		tcs("image/list/order", imp("repo=conf/imp&tag=1", importTar).asSetup(), imp("repo=conf/imp&tag=2", importTar).after(1100*time.Millisecond).asSetup(),
			get("/images/json?"+filters("reference", "conf/imp")).pick("RepoTags")),
		tcs("image/list/digests", list("digests=1")),
		tcs("image/list/reference", list(filters("reference", "conf/busybox"))),
		tcs("image/list/reference-tag", list(filters("reference", imgRich))),
		tcs("image/list/reference-glob", list(filters("reference", "conf/*"))),
		tcs("image/list/reference-glob-tag", list(filters("reference", "conf/busybox:a*"))),
		tcs("image/list/reference-two", list(filters("reference", "conf/rich", "reference", "conf/busybox:alias"))),
		tcs("image/list/reference-none", list(filters("reference", "conf/nope"))),
		tcs("image/list/dangling-true", list(filters("dangling", "true"))),
		tcs("image/list/dangling-false", list(filters("dangling", "false"))),
		tcs("image/list/dangling-bad", list(filters("dangling", "maybe"))),
		tcs("image/list/label-key", list(filters("label", "org.conf.image"))),
		tcs("image/list/label-value", list(filters("label", "org.conf.seed=1"))),
		tcs("image/list/label-two", list(filters("label", "org.conf.base=busybox", "label", "org.conf.image"))),
		tcs("image/list/label-two-none", list(filters("label", "org.conf.seed", "label", "org.conf.image"))),
		tcs("image/list/before", list(filters("before", imgRich))),
		tcs("image/list/since", list(filters("since", imgBusybox))),
		tcs("image/list/before-missing", list(filters("before", "conf/nope"))),
		tcs("image/list/until", list(filters("until", "2020-01-01T00:00:00Z"))),
		tcs("image/list/since-missing", list(filters("since", "conf/nope"))),
		tcs("image/list/reference-bad-pattern", list(filters("reference", "conf/[bad"))),
		tcs("image/list/label-not", list(filters("label!", "org.conf.image"))),
		tcs("image/list/dangling-two", list(filters("dangling", "true", "dangling", "false"))),
		tcs("image/list/filter-unknown", list(filters("nope", "1"))),
		tcs("image/list/filter-malformed", get("/images/json?filters="+q("{bad"))),
		tcs("image/list/sdk", sdk("ImageList", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			r, err := c.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("reference", imgRich)})
			return r.Items, err
		})),

		// Inspect and history.
		tcs("image/inspect/busybox", inspect(imgBusybox)),
		tcs("image/inspect/rich", inspect(imgRich)),
		tcs("image/inspect/no-tag", inspect("conf/rich")),
		tcs("image/inspect/by-id", inspect("{img:busybox}")),
		tcs("image/inspect/by-hex", inspect("{img:busybox:hex}")),
		tcs("image/inspect/by-short-id", inspect("{img:rich:12}")),
		tcs("image/inspect/missing", inspect("conf/nope:1")),
		tcs("image/inspect/missing-no-tag", inspect("conf/nope")),
		tcs("image/inspect/invalid-reference", inspect("Conf/UPPER")),
		tcs("image/inspect/sdk-missing", sdk("ImageInspect", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			return c.ImageInspect(ctx, "conf/nope:1")
		})),
		tcs("image/history/busybox", get("/images/"+imgBusybox+"/history")),
		tcs("image/history/rich", get("/images/"+imgRich+"/history")),
		tcs("image/history/missing", get("/images/conf/nope/history")),

		// Tag and remove.
		tcs("image/tag/ok", post("/images/"+imgBusybox+"/tag?repo=conf/new&tag=1", nil), inspect("conf/new:1").pick("Id", "RepoTags")),
		tcs("image/tag/default-latest", post("/images/"+imgBusybox+"/tag?repo=conf/new", nil), inspect("conf/new").pick("RepoTags")),
		tcs("image/tag/move", post("/images/"+imgRich+"/tag?repo=conf/busybox&tag=alias", nil), inspect(imgAlias).pick("Id", "RepoTags"), inspect(imgBusybox).pick("RepoTags")),
		tcs("image/tag/missing", post("/images/conf/nope/tag?repo=conf/new&tag=1", nil)),
		tcs("image/tag/invalid-repo", post("/images/"+imgBusybox+"/tag?repo=Conf/UPPER&tag=1", nil)),
		tcs("image/tag/invalid-tag", post("/images/"+imgBusybox+"/tag?repo=conf/new&tag="+q("bad tag!"), nil)),
		tcs("image/tag/looks-like-id", post("/images/"+imgBusybox+"/tag?repo={img:rich:hex}", nil)),
		tcs("image/tag/digest-repo", post("/images/"+imgBusybox+"/tag?repo="+q("conf/new@sha256:0000000000000000000000000000000000000000000000000000000000000000"), nil)),
		tcs("image/tag/no-repo", post("/images/"+imgBusybox+"/tag", nil)),
		tcs("image/tag/sdk", sdk("ImageTag", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			return c.ImageTag(ctx, client.ImageTagOptions{Source: imgBusybox, Target: "conf/sdk:1"})
		}), inspect("conf/sdk:1").pick("RepoTags")),
		tcs("image/rm/untag", del("/images/"+imgAlias), inspect(imgBusybox).pick("RepoTags")),
		tcs("image/rm/by-id-many-tags", del("/images/{img:busybox}")),
		tcs("image/rm/by-id-force", del("/images/{img:busybox}?force=1").anyOrder(), list("")),
		tcs("image/rm/used-by-container", mk("a", obj{"Image": imgRich}), del("/images/"+imgRich)),
		tcs("image/rm/used-by-container-force", mk("a", obj{"Image": imgRich}), del("/images/"+imgRich+"?force=1").anyOrder()),
		tcs("image/rm/used-by-running", mkRunning("a", obj{"Image": imgRich, "Entrypoint": []string{"sleep"}, "Cmd": []string{"300"}}), del("/images/{img:rich}?force=1")),
		tcs("image/rm/last-tag", del("/images/"+imgRich).anyOrder(), list("")),
		tcs("image/rm/noprune", del("/images/"+imgRich+"?noprune=1").anyOrder()),
		tcs("image/rm/missing", del("/images/conf/nope:1")),
		tcs("image/rm/invalid-reference", del("/images/Conf/UPPER")),
		tcs("image/rm/sdk-missing", sdk("ImageRemove", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			return c.ImageRemove(ctx, "conf/nope:1", client.ImageRemoveOptions{})
		})),

		// Save and load.
		tcs("image/save/busybox", get("/images/get?names="+q(imgBusybox)).tarList()),
		tcs("image/save/two", get("/images/get?names="+q(imgBusybox)+"&names="+q(imgRich)).tarList()),
		tcs("image/save/by-name-route", get("/images/"+imgRich+"/get").tarList()),
		tcs("image/save/missing", get("/images/get?names=conf/nope:1")),
		tcs("image/save/no-names", get("/images/get").tarList()), // an archive of no image: its entries compared, as the other saves
		tcs("image/load/seed", load(seedTar)),
		tcs("image/load/quiet", post("/images/load?quiet=1", seedTar).ctypeIs("application/x-tar")),
		tcs("image/load/garbage", load([]byte("this is not a tar archive"))),
		tcs("image/load/empty", load([]byte{})),
		tcs("image/load/not-an-image-tar", load(importTar)),
		tcs("image/load/after-rmi", del("/images/"+imgRich+"?force=1").asSetup(), load(seedTar), inspect(imgRich).pick("Id", "RepoTags")),

		// Import.
		tcs("image/import/stdin", imp("repo=conf/imp&tag=1", importTar), inspect("conf/imp:1").pick("RepoTags", "Config", "Comment", "Author", "Architecture", "Os", "RootFS")),
		tcs("image/import/changes", imp("repo=conf/imp&tag=2&changes="+q(`CMD ["/bin/true"]`)+"&changes="+q("ENV A=1")+"&message=hello", importTar),
			inspect("conf/imp:2").pick("Config", "Comment")),
		tcs("image/import/bad-change", imp("repo=conf/imp&tag=3&changes="+q("BOGUS x"), importTar)),
		tcs("image/import/no-repo", imp("", importTar)),
		tcs("image/import/garbage", imp("repo=conf/imp&tag=4", []byte("not a tar"))),
		tcs("image/import/url", post("/images/create?fromSrc="+q("{srv}/import.tar")+"&repo=conf/url&tag=1", nil), inspect("conf/url:1").pick("RepoTags", "RootFS")),
		tcs("image/import/url-missing", post("/images/create?fromSrc="+q("{srv}/nope.tar")+"&repo=conf/url&tag=2", nil)),
		tcs("image/import/bad-repo", imp("repo=Conf/UPPER", importTar)),
		tcs("image/create/nothing", post("/images/create", nil)),

		// Commit.
		tcs("image/commit/ok", mkExited("a", nil, "sh", "-c", "echo c > /committed"), post("/commit?container={a}&repo=conf/commit&tag=1&comment=hi&author=conf", nil).capture("i", "Id"),
			inspect("conf/commit:1").pick("RepoTags", "Comment", "Author", "Config", "Container", "Parent")),
		tcs("image/commit/changes-env-expand", mk("a", obj{"Env": []string{"B=bee"}}),
			post("/commit?container={a}&repo=conf/commit&tag=2&changes="+q("ENV A=$B")+"&changes="+q("LABEL x=y")+"&changes="+q(`ENTRYPOINT ["/bin/sh"]`), nil),
			inspect("conf/commit:2").pick("Config")),
		tcs("image/commit/bad-change", mk("a", nil), post("/commit?container={a}&repo=conf/commit&changes="+q("BOGUS x"), nil)),
		tcs("image/commit/missing-container", post("/commit?container=conf-nope&repo=conf/commit", nil)),
		tcs("image/commit/invalid-repo", mk("a", nil), post("/commit?container={a}&repo=Conf/UPPER", nil)),
		tcs("image/commit/config-body", mk("a", nil), post("/commit?container={a}&repo=conf/commit&tag=3", obj{"Cmd": []string{"echo", "body"}, "Labels": obj{"from": "body"}}),
			inspect("conf/commit:3").pick("Config")),
		tcs("image/commit/paused-running", mkRunning("a", nil), post("/commit?container={a}&repo=conf/commit&tag=4&pause=1", nil), get("/containers/{a}/json").pick("State")),

		// Prune.
		tcs("image/prune/dangling", post("/images/prune", nil)),
		tcs("image/prune/all-unused", mk("a", nil), post("/images/prune?"+filters("dangling", "false"), nil).vol("SpaceReclaimed").anyOrder("ImagesDeleted"), list("")),
		tcs("image/prune/until", post("/images/prune?"+filters("dangling", "false", "until", "2020-01-01T00:00:00Z"), nil), list("")),
		tcs("image/prune/label", post("/images/prune?"+filters("dangling", "false", "label", "org.conf.image=rich"), nil).vol("SpaceReclaimed").anyOrder("ImagesDeleted"), list("")),
		tcs("image/prune/label-not", post("/images/prune?"+filters("dangling", "false", "label!", "org.conf.image"), nil).vol("SpaceReclaimed").anyOrder("ImagesDeleted"), list("")),
		tcs("image/prune/label-two", post("/images/prune?"+filters("dangling", "false", "label", "org.conf.base=busybox", "label", "org.conf.seed=1"), nil).vol("SpaceReclaimed").anyOrder("ImagesDeleted"), list("")),
		tcs("image/prune/dangling-bad", post("/images/prune?"+filters("dangling", "maybe"), nil)),
		tcs("image/prune/until-bad", post("/images/prune?"+filters("until", "soon"), nil)),
		tcs("image/prune/filter-malformed", post("/images/prune?filters="+q("{bad"), nil)),
		tcs("image/prune/filter-unknown", post("/images/prune?"+filters("nope", "1"), nil)),
		tcs("image/prune/dangling-after-untag", imp("repo=conf/imp&tag=1", importTar).asSetup(), del("/images/conf/imp:1?noprune=1").asSetup(),
			list(filters("dangling", "true")), post("/images/prune", nil).vol("SpaceReclaimed").anyOrder("ImagesDeleted")),

		// Registries: {reg} on the loopback (basic authentication, user conf,
		// password conf-pw) holds conf/pulled:1, the seed's conf/busybox.
		tcs("image/pull/registry", pull("conf/pulled", "1", regAuth), inspect("{reg}/conf/pulled:1").pick("Id", "RepoTags", "RepoDigests"),
			pull("conf/pulled", "1", regAuth), del("/images/{reg}/conf/pulled:1"), inspect(imgBusybox).pick("RepoTags", "RepoDigests")),
		tcs("image/pull/registry-missing-tag", pull("conf/pulled", "nope", regAuth)),
		tcs("image/pull/registry-missing-repo", pull("conf/nothere", "1", regAuth)),
		tcs("image/pull/registry-no-auth", pull("conf/pulled", "1", "")),
		tcs("image/pull/registry-wrong-password", pull("conf/pulled", "1", base64.URLEncoding.EncodeToString([]byte(`{"username":"conf","password":"nope"}`)))),
		// dockerd answers 500 (no registry there): compared with it, not run
		// alone at newer versions, where any 5xx is a problem.
		tcs("image/pull/unreachable", post("/images/create?fromImage="+q("127.0.0.1:1/conf/x")+"&tag=1", nil).likeMessage(`connection refused`)).only141(),
		tcs("image/pull/invalid-reference", post("/images/create?fromImage="+q("Conf/UPPER")+"&tag=1", nil)),
		tcs("image/push/missing", post("/images/conf/nope/push?tag=1", nil).header("X-Registry-Auth", "e30=")),
		tcs("image/build/no-context", post("/build", nil).ctypeIs("application/x-tar")),
		tcs("image/build/no-dockerfile", post("/build", importTar).ctypeIs("application/x-tar")),
		tcs("image/build/named-dockerfile-missing", post("/build?dockerfile=conf.Dockerfile", buildTar).ctypeIs("application/x-tar")),
		tcs("image/build/bad-version", post("/build?version=3", buildTar).ctypeIs("application/x-tar")),
		tcs("image/build/garbage", post("/build", []byte("not a tar at all")).ctypeIs("application/x-tar")),
		tcs("image/build/syntax-error", post("/build?dockerfile=bad.Dockerfile", buildTar).ctypeIs("application/x-tar")),
		tcs("image/build/target-missing", post("/build?target=nope", buildTar).ctypeIs("application/x-tar")),
		tcs("image/build/context-link-out", post("/build", escapeTars["link-out"]).ctypeIs("application/x-tar")),
		tcs("image/build/context-hardlink-out", post("/build", escapeTars["hardlink-out"]).ctypeIs("application/x-tar")),
		tcs("image/build/ok", post("/build?t=conf/built:1&networkmode=none", buildTar).ctypeIs("application/x-tar").vol("[].stream", "[].aux"),
			inspect("conf/built:1").pick("RepoTags", "Config")).only141(),
	}
	for _, tool := range []string{"gzip", "bzip2", "xz", "zstd"} {
		cases = append(cases,
			compressedCase("image/load/"+tool, tool, seedTar, func(body []byte) []*step {
				return []*step{del("/images/" + imgRich + "?force=1").asSetup(), load(body), inspect(imgRich).pick("Id", "RepoTags")}
			}),
			compressedCase("image/import/"+tool, tool, importTar, func(body []byte) []*step {
				return []*step{imp("repo=conf/imp&tag="+tool, body), inspect("conf/imp:"+tool).pick("RepoTags", "RootFS")}
			}),
		)
	}
	return cases
}
