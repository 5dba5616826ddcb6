package network

import (
	"crypto/sha256"
	"math/big"
	"net/netip"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/wine"
)

// TestULABase: the default IPv6 pool is fd00::/8 plus 40 bits of the
// engine id's SHA-256 at bit 80, as moby's deriveULABaseNetwork; computed
// here another way (big integers).
func TestULABase(t *testing.T) {
	for _, owner := range []string{"", "6c5f3a1e-5d9b-4c3e-9a7b-2f1d0e8c4b21"} {
		p := ulaBase(owner)
		sum := sha256.Sum256([]byte(owner))
		gid := new(big.Int).SetBytes(sum[:8])
		gid.And(gid, new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 40), big.NewInt(1)))
		want := new(big.Int).SetBytes(netip.MustParseAddr("fd00::").AsSlice())
		want.Add(want, new(big.Int).Lsh(gid, 80))
		var b [16]byte
		want.FillBytes(b[:])
		if p != netip.PrefixFrom(netip.AddrFrom16(b), 48) {
			t.Errorf("ulaBase(%q) = %s, want %s/48", owner, p, netip.AddrFrom16(b))
		}
	}
}

// TestAllocateIPv6: serial allocation in an IPv6 subnet (the gateway and
// the subnet-router anycast address never given, the last address given),
// from a range when there is one, and static addresses checked.
func TestAllocateIPv6(t *testing.T) {
	db, err := bolt.Open(filepath.Join(wine.TempDir(t), "db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Update(func(tx *bolt.Tx) error {
		tx.CreateBucketIfNotExists(bucketEndpoints)
		_, err := tx.CreateBucketIfNotExists(bucketIPAM)
		return err
	})
	nw := &Network{ID: "n1", Name: "n1", EnableIPv6: true, Subnet6: netip.MustParsePrefix("fd00:1::/126"), Gateway6: netip.MustParseAddr("fd00:1::1")}
	take := func(want string) (netip.Prefix, error) {
		var a netip.Prefix
		err := db.Update(func(tx *bolt.Tx) error {
			var err error
			if a, err = allocate(tx, nw, nw.pool6(), want); err != nil {
				return err
			}
			return putEndpoint(tx, &Endpoint{ID: a.String(), NetworkID: nw.ID, Addr6: a})
		})
		return a, err
	}
	for _, want := range []string{"fd00:1::2/126", "fd00:1::3/126"} {
		if a, err := take(""); err != nil || a.String() != want {
			t.Errorf("allocate: %s %v, want %s", a, err, want)
		}
	}
	if _, err := take(""); !errdefs.IsUnavailable(err) {
		t.Errorf("allocate in a full subnet: %v", err)
	}
	for want, kind := range map[string]func(error) bool{
		"fd00:1::1": errdefs.IsForbidden, "fd00:1::": errdefs.IsForbidden, "fd00:1::2": errdefs.IsForbidden,
		"fd00:2::5": errdefs.IsInvalidArgument, "10.0.0.1": errdefs.IsInvalidArgument,
	} {
		if _, err := take(want); !kind(err) {
			t.Errorf("static %s: %v", want, err)
		}
	}
	nw = &Network{ID: "n2", Name: "n2", EnableIPv6: true, Subnet6: netip.MustParsePrefix("fd00:2::/64"),
		Gateway6: netip.MustParseAddr("fd00:2::1"), IPRange6: netip.MustParsePrefix("fd00:2::100/120")}
	if a, err := take(""); err != nil || a.String() != "fd00:2::100/64" {
		t.Errorf("allocate from a range: %s %v", a, err)
	}
	if a, err := take("fd00:2::7"); err != nil || a.String() != "fd00:2::7/64" {
		t.Errorf("a static address outside the range, in the subnet: %s %v", a, err)
	}
}
