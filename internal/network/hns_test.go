package network

// Golden tests of the HNS documents (run on any OS; no Windows host has sent
// them to HNS yet).

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata")

func checkGolden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	file := filepath.Join("testdata", name)
	if *updateGolden {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s differs from the generated document (run with -update if intended); got:\n%s", file, b)
	}
}

func TestHNSDocumentsGolden(t *testing.T) {
	nw, err := HNSNetworkDocument("examplenetwork", "nat", netip.MustParsePrefix("172.28.0.0/16"), netip.MustParseAddr("172.28.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "hns_network_nat.golden.json", nw)
	ep := HNSEndpointDocument("5d3e1a2b-0000-4000-8000-0000000000aa", "c0ffee000001_examplenetwork",
		netip.MustParsePrefix("172.28.0.2/16"), netip.MustParseAddr("172.28.0.1"), "00-15-5D-1C-00-02",
		HNSDNS{Search: []string{"corp.example"}, ServerList: []string{"172.28.0.1"}})
	checkGolden(t, "hns_endpoint.golden.json", ep)
	checkGolden(t, "hns_namespace.golden.json", HNSNamespaceDocument([]string{"7e3c2b1a-0000-4000-8000-00000000e001"}))
	if _, err := HNSNetworkDocument("x", "bridge", netip.Prefix{}, netip.Addr{}); err == nil || !strings.Contains(err.Error(), "nat, transparent or l2bridge") {
		t.Errorf("a Linux driver on Windows: %v", err)
	}
}

// fakeHNS records calls and hands out ids.
type fakeHNS struct {
	calls []string
	fail  string
}

func (f *fakeHNS) rec(c string) error {
	f.calls = append(f.calls, c)
	if c == f.fail {
		return errors.New("HNS said no")
	}
	return nil
}
func (f *fakeHNS) CreateNetwork(doc *HNSNetwork) (*HNSNetwork, error) {
	return doc, f.rec("CreateNetwork")
}
func (f *fakeHNS) GetNetworkByName(name string) (*HNSNetwork, error) {
	nw, _ := HNSNetworkDocument(name, "nat", netip.MustParsePrefix("172.28.0.0/16"), netip.MustParseAddr("172.28.0.1"))
	nw.Id = "net-1"
	return nw, f.rec("GetNetworkByName")
}
func (f *fakeHNS) DeleteNetwork(string) error { return f.rec("DeleteNetwork") }
func (f *fakeHNS) CreateEndpoint(nid string, doc *HNSEndpoint) (*HNSEndpoint, error) {
	d := *doc
	d.Id = "ep-1"
	return &d, f.rec("CreateEndpoint")
}
func (f *fakeHNS) DeleteEndpoint(string) error { return f.rec("DeleteEndpoint") }
func (f *fakeHNS) CreateNamespace(doc *HNSNamespace) (*HNSNamespace, error) {
	d := *doc
	d.Id = "ns-1"
	return &d, f.rec("CreateNamespace")
}
func (f *fakeHNS) DeleteNamespace(string) error { return f.rec("DeleteNamespace") }
func (f *fakeHNS) ListNamespaces() ([]HNSNamespace, error) {
	return []HNSNamespace{{Id: "ns-1", NamespaceId: 7}}, f.rec("ListNamespaces")
}
func (f *fakeHNS) NamespaceEndpoints(string) ([]HNSEndpoint, error) {
	return nil, f.rec("NamespaceEndpoints")
}

func TestHNSAttachOrderAndUndo(t *testing.T) {
	f := &fakeHNS{}
	s := NewHNSService(f)
	a, err := s.Attach("c0ffee000001", "examplenetwork", netip.Prefix{}, "", HNSDNS{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Endpoint.HostComputeNetwork != "net-1" || len(a.Endpoint.Routes) != 1 || a.Endpoint.Routes[0].NextHop != "172.28.0.1" {
		t.Errorf("endpoint: %+v", a.Endpoint)
	}
	s.Detach(a)
	if got := strings.Join(f.calls, " "); got != "GetNetworkByName CreateEndpoint CreateNamespace DeleteNamespace DeleteEndpoint" {
		t.Errorf("calls: %s", got)
	}
	// A compartment HNS refuses: the endpoint is deleted again.
	f = &fakeHNS{fail: "CreateNamespace"}
	if _, err := NewHNSService(f).Attach("c0ffee000001", "examplenetwork", netip.Prefix{}, "", HNSDNS{}); err == nil {
		t.Fatal("attach succeeded")
	}
	if got := strings.Join(f.calls, " "); got != "GetNetworkByName CreateEndpoint CreateNamespace DeleteEndpoint" {
		t.Errorf("calls after a failed namespace: %s", got)
	}
}
