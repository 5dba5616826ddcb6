package layer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/hullproject/hull/internal/crashpoint"
	"github.com/hullproject/hull/internal/errdefs"
)

// Store keeps layers by id in <root>/layers/<id>. Read-only layers are
// named by their chain id; a scratch layer is named by its container's id,
// and CreateScratch is the only way to make one, so the two cannot differ.
type Store struct {
	dir string // <root>/layers

	// mu serialises the commits of new layers with removals in this
	// process, so that a layer is never committed on a removed parent nor
	// removed while a child is being committed on it. Layers are made
	// without it, so creations run side by side.
	mu sync.Mutex

	// disposable says which layers go along with the layer they stand on
	// when it is removed (SetDisposable).
	disposable func(Info) bool
}

// SetDisposable names the layers that may be kept while nothing uses them
// and go along with their parent when it is removed: read-only layers,
// nothing standing on them, not mounted, that their maker can make again
// (the daemon's init layers). Call it before the store is used.
func (s *Store) SetDisposable(fn func(Info) bool) { s.disposable = fn }

// Disposable reports whether layer in is one SetDisposable names.
func (s *Store) Disposable(in Info) bool {
	return !in.Scratch && s.disposable != nil && s.disposable(in)
}

// Info describes a layer in the store.
type Info struct {
	ID string
	// Dir is the layer's folder; its layerchain.json leads down the chain.
	Dir string
	// Parent is the id of the nearest parent, empty for a base layer.
	Parent string
	// Chain is the parent folders, nearest first.
	Chain []string
	Meta
}

var idPattern = regexp.MustCompile(`^[a-f0-9]{64}$`)

// ValidID reports whether id can name a layer (and so a container): 64
// lower-case hex digits, which also keeps it a single path element.
func ValidID(id string) bool { return idPattern.MatchString(id) }

func checkID(id string) error {
	if !ValidID(id) {
		return fmt.Errorf("layer id %q: want 64 lower-case hex digits: %w", id, errdefs.ErrInvalidArgument)
	}
	return nil
}

const tmpPrefix = ".tmp-"

// NewStore opens the layer store under root, making it if needed, and
// removes what an interrupted creation left behind.
func NewStore(ctx context.Context, root string) (*Store, error) {
	// Layer folders name each other by absolute path in layerchain.json.
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open layer store: %w", err)
	}
	dir := filepath.Join(root, "layers")
	// The trash too, at once: the store's folder looks the same before
	// and after a removal.
	if err := os.MkdirAll(filepath.Join(dir, trashDir), 0o700); err != nil {
		return nil, fmt.Errorf("open layer store: %w", err)
	}
	s := &Store{dir: dir}
	if err := s.cleanup(ctx); err != nil {
		return nil, fmt.Errorf("open layer store: %w", err)
	}
	return s, nil
}

// cleanup removes folders of creations that never finished: temporary
// folders, and layers without a record (a crash between the rename and
// the record cannot happen, since the record is written first).
func (s *Store) cleanup(ctx context.Context) error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Name() == trashDir {
			continue // EmptyTrash's
		}
		p := filepath.Join(s.dir, e.Name())
		unfinished := strings.HasPrefix(e.Name(), tmpPrefix)
		if !unfinished && scratchInPlace && e.IsDir() {
			// A scratch layer made in place: without its record (written
			// last), its creation did not finish.
			_, err := os.Stat(filepath.Join(p, metaFile))
			unfinished = errors.Is(err, os.ErrNotExist)
		}
		if !unfinished {
			continue
		}
		slog.DebugContext(ctx, "removing interrupted layer creation", "layer", p)
		_ = unmountImpl(ctx, p)
		if err := removeAll(p); err != nil {
			return fmt.Errorf("remove interrupted layer %s: %w", p, err)
		}
	}
	return nil
}

// Driver names the store's backend as docker inspect shows it
// (GraphDriver.Name).
func (s *Store) Driver() string { return driverName }

// Dir returns the folder of layer id (which need not exist).
func (s *Store) Dir(id string) string { return filepath.Join(s.dir, id) }

// LayersDir is the folder holding the layer folders.
func (s *Store) LayersDir() string { return s.dir }

func (s *Store) parentChain(parent string) ([]string, error) {
	if parent == "" {
		return nil, nil
	}
	if err := checkID(parent); err != nil {
		return nil, err
	}
	pdir := s.Dir(parent)
	chain, err := ReadChain(pdir)
	if err != nil {
		return nil, fmt.Errorf("parent layer %s: %w", parent, err)
	}
	return append([]string{pdir}, chain...), nil
}

// tempDir makes a fresh temporary folder in the store for a layer being
// made; it becomes the layer by a rename, so a layer folder is either
// whole or absent.
func (s *Store) tempDir(id string) (string, error) {
	return os.MkdirTemp(s.dir, tmpPrefix+id[:12]+"-")
}

// createScratchInPlace makes the scratch layer in its own folder from the
// start: Windows ties a scratch layer to the name it was made with, so it is
// never renamed (Store.Open removes one without its record after a crash).
func (s *Store) createScratchInPlace(ctx context.Context, id, parent string, chain []string) (Info, error) {
	s.mu.Lock()
	dir := s.Dir(id)
	err := os.Mkdir(dir, 0o700)
	s.mu.Unlock()
	if errors.Is(err, os.ErrExist) {
		return Info{}, fmt.Errorf("layer %s: %w", id, errdefs.ErrAlreadyExists)
	}
	if err != nil {
		return Info{}, err
	}
	err = writeChain(dir, chain)
	if err == nil {
		err = createScratchImpl(ctx, dir, chain)
	}
	if err == nil {
		err = writeMeta(dir, Meta{Scratch: true})
	}
	if err != nil {
		_ = removeAll(dir)
		return Info{}, fmt.Errorf("create scratch layer %s: %w", id, err)
	}
	return Info{ID: id, Dir: dir, Parent: parent, Chain: chain, Meta: Meta{Scratch: true}}, nil
}

// commit renames the finished layer in tmp to id. It holds the store's
// lock, and checks again that the parent is still there: the layer was made
// without the lock, and a Remove of the parent may have won the race.
func (s *Store) commit(tmp, id, parent string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if parent != "" {
		if _, err := os.Stat(filepath.Join(s.Dir(parent), ChainFile)); err != nil {
			return fmt.Errorf("parent layer %s was removed meanwhile: %w", parent, errdefs.ErrNotFound)
		}
	}
	if _, err := os.Stat(s.Dir(id)); err == nil {
		return fmt.Errorf("layer %s: %w", id, errdefs.ErrAlreadyExists)
	}
	crashpoint.At("layer: the diff is applied in a temporary folder, not named")
	if err := os.Rename(tmp, s.Dir(id)); err != nil {
		return err
	}
	return syncDir(s.dir)
}

// Create makes read-only layer id on top of parent (empty for a base
// layer) from the tar diff r. On error nothing of it is left.
func (s *Store) Create(ctx context.Context, id, parent string, r io.Reader, opts ApplyOptions) (Info, error) {
	if err := checkID(id); err != nil {
		return Info{}, err
	}
	if _, err := os.Stat(s.Dir(id)); err == nil {
		return Info{}, fmt.Errorf("layer %s: %w", id, errdefs.ErrAlreadyExists)
	}
	chain, err := s.parentChain(parent)
	if err != nil {
		return Info{}, err
	}
	tmp, err := s.tempDir(id)
	if err != nil {
		return Info{}, fmt.Errorf("create layer %s: %w", id, err)
	}
	m, err := importInto(ctx, tmp, chain, r, opts)
	if err == nil {
		err = s.commit(tmp, id, parent)
	}
	if err != nil {
		_ = removeAll(tmp)
		return Info{}, fmt.Errorf("create layer %s: %w", id, err)
	}
	return Info{ID: id, Dir: s.Dir(id), Parent: parent, Chain: chain, Meta: m}, nil
}

// CreateFunc makes a read-only layer on top of parent from the tar diff
// r when its id is known only once the tar has been read (a chain id needs
// the diff id). The layer is applied into a temporary folder; name then
// gets its record and returns the id, or an error that discards it. If a
// layer with that id exists already, the new copy is discarded and the
// existing layer returned.
func (s *Store) CreateFunc(ctx context.Context, parent string, r io.Reader, opts ApplyOptions, name func(Meta) (string, error)) (Info, error) {
	chain, err := s.parentChain(parent)
	if err != nil {
		return Info{}, err
	}
	tmp, err := os.MkdirTemp(s.dir, tmpPrefix+"new-")
	if err != nil {
		return Info{}, fmt.Errorf("create layer: %w", err)
	}
	m, err := importInto(ctx, tmp, chain, r, opts)
	if err != nil {
		_ = removeAll(tmp)
		return Info{}, fmt.Errorf("create layer: %w", err)
	}
	id, err := name(m)
	if err == nil {
		err = checkID(id)
	}
	if err != nil {
		_ = removeAll(tmp)
		return Info{}, fmt.Errorf("create layer: %w", err)
	}
	if err := s.commit(tmp, id, parent); err != nil {
		_ = removeAll(tmp)
		if errdefs.IsAlreadyExists(err) {
			return s.Get(ctx, id)
		}
		return Info{}, fmt.Errorf("create layer %s: %w", id, err)
	}
	return Info{ID: id, Dir: s.Dir(id), Parent: parent, Chain: chain, Meta: m}, nil
}

// CreateScratch makes the scratch layer of container containerID on top
// of read-only layer parent (empty for none). The layer's id is the
// container's id.
func (s *Store) CreateScratch(ctx context.Context, containerID, parent string) (Info, error) {
	if err := checkID(containerID); err != nil {
		return Info{}, fmt.Errorf("scratch layer: container id: %w", err)
	}
	if _, err := os.Stat(s.Dir(containerID)); err == nil {
		return Info{}, fmt.Errorf("layer %s: %w", containerID, errdefs.ErrAlreadyExists)
	}
	chain, err := s.parentChain(parent)
	if err != nil {
		return Info{}, err
	}
	if parent != "" {
		if m, err := ReadMeta(s.Dir(parent)); err != nil || m.Scratch {
			return Info{}, fmt.Errorf("parent layer %s is not a read-only layer: %w", parent, errdefs.ErrInvalidArgument)
		}
	}
	if scratchInPlace {
		return s.createScratchInPlace(ctx, containerID, parent, chain)
	}
	tmp, err := s.tempDir(containerID)
	if err != nil {
		return Info{}, err
	}
	err = writeChain(tmp, chain)
	if err == nil {
		err = createScratchImpl(ctx, tmp, chain)
	}
	if err == nil {
		err = writeMeta(tmp, Meta{Scratch: true})
	}
	if err == nil {
		err = s.commit(tmp, containerID, parent)
	}
	if err != nil {
		_ = removeAll(tmp)
		return Info{}, fmt.Errorf("create scratch layer %s: %w", containerID, err)
	}
	return Info{ID: containerID, Dir: s.Dir(containerID), Parent: parent, Chain: chain, Meta: Meta{Scratch: true}}, nil
}

// Get returns layer id.
func (s *Store) Get(ctx context.Context, id string) (Info, error) {
	if err := checkID(id); err != nil {
		return Info{}, err
	}
	dir := s.Dir(id)
	chain, err := ReadChain(dir)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return Info{}, fmt.Errorf("layer %s: %w", id, errdefs.ErrNotFound)
		}
		return Info{}, err
	}
	m, err := ReadMeta(dir)
	if err != nil {
		return Info{}, err
	}
	in := Info{ID: id, Dir: dir, Chain: chain, Meta: m}
	if len(chain) > 0 {
		in.Parent = filepath.Base(chain[0])
	}
	return in, nil
}

// List returns every layer in the store.
func (s *Store) List(ctx context.Context) ([]Info, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, e := range ents {
		if !ValidID(e.Name()) {
			continue
		}
		in, err := s.Get(ctx, e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// Mount mounts layer id with its parents and returns where; see Mount.
func (s *Store) Mount(ctx context.Context, id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	return Mount(ctx, s.Dir(id))
}

// MountVolatile mounts scratch layer id as MountVolatile does.
func (s *Store) MountVolatile(ctx context.Context, id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	return MountVolatile(ctx, s.Dir(id))
}

// Unmount undoes one Mount of layer id.
func (s *Store) Unmount(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return Unmount(ctx, s.Dir(id))
}

// Remove deletes layer id. It refuses a layer that another layer stands
// on, and a mounted one unless force is set.
func (s *Store) Remove(ctx context.Context, id string, force bool) error {
	// Move the layer aside first, so that a crash part way through leaves
	// a temporary folder that the next start removes, never half a layer.
	tmp, along, err := s.takeOut(ctx, id, force, false, func() string { return filepath.Join(s.dir, tmpPrefix+"rm-"+id) })
	if err != nil {
		return err
	}
	for _, p := range append(along, tmp) {
		if err := removeAll(p); err != nil {
			return fmt.Errorf("remove layer %s: %w", id, err)
		}
	}
	return nil
}

// trashDir is the store's trash (<root>/layers/.trash): the layers Discard
// took out wait there, whole, for EmptyTrash to delete their files. It is
// in the store's folder, so on its file system: taking a layer out is one
// rename.
const trashDir = ".trash"

// Discard takes layer id out of the store as Remove does — refused while
// another layer stands on it, or while it is mounted unless force is set,
// which unmounts it first — but only renames it into the store's trash:
// from then on the layer is gone for every reader of the store, and its id
// is free, yet its files stay until EmptyTrash deletes them. A crash leaves
// the layer whole in the trash, for the next EmptyTrash. It is Remove for
// a caller that must not wait for the deletion of many files (a container
// removed after its exit, whose client waits for the removal).
func (s *Store) Discard(ctx context.Context, id string, force bool) error {
	return s.discard(ctx, id, force, false)
}

// DiscardMounted is Discard of a layer whose mount no process uses any
// more (the root file system of a container whose pid namespace is
// gone): the layer goes into the trash with its mount, which EmptyTrash
// detaches before it deletes the files, so the unmount — a grace period
// of the kernel's, milliseconds — leaves the caller's path. A crash leaves
// the mount in the trash for the next EmptyTrash.
func (s *Store) DiscardMounted(ctx context.Context, id string) error {
	return s.discard(ctx, id, true, true)
}

func (s *Store) discard(ctx context.Context, id string, force, keepMount bool) error {
	if err := os.MkdirAll(filepath.Join(s.dir, trashDir), 0o700); err != nil {
		return fmt.Errorf("remove layer %s: %w", id, err)
	}
	_, _, err := s.takeOut(ctx, id, force, keepMount, func() string { return s.trashPath(id) })
	return err
}

// trashPath is a new name in the trash for layer id.
func (s *Store) trashPath(id string) string {
	var b [8]byte
	rand.Read(b[:])
	return filepath.Join(s.dir, trashDir, id+"-"+hex.EncodeToString(b[:]))
}

// EmptyTrash deletes the layers Discard took out (those a crash left too),
// one after the other, until ctx is done.
func (s *Store) EmptyTrash(ctx context.Context) error {
	trash := filepath.Join(s.dir, trashDir)
	ents, err := os.ReadDir(trash)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("empty the layer trash: %w", err)
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		crashpoint.At("layer: a removed layer is in the trash, its files are not deleted")
		if err := removeAll(filepath.Join(trash, e.Name())); err != nil {
			return fmt.Errorf("empty the layer trash: %w", err)
		}
	}
	return nil
}

// takeOut checks that layer id can be removed (no layer stands on it but
// disposable ones, which go along into the trash; not mounted unless
// force, which unmounts it — or, with keepMount, leaves the mount on it)
// and renames it to the path to gives, holding the store's lock. along is
// where the disposable layers went.
func (s *Store) takeOut(ctx context.Context, id string, force, keepMount bool, to func() string) (dst string, along []string, err error) {
	if err := checkID(id); err != nil {
		return "", nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := s.Dir(id)
	if _, err := s.Get(ctx, id); err != nil {
		return "", nil, err
	}
	all, err := s.List(ctx)
	if err != nil {
		return "", nil, err
	}
	var disposable []Info
	for _, in := range all {
		if !slices.Contains(in.Chain, dir) {
			continue
		}
		// A layer standing on a disposable one has dir in its chain
		// too, and is refused here: what goes along has nothing on it.
		if in.Chain[0] == dir && s.Disposable(in) {
			if n, err := Mounted(in.Dir); err == nil && n == 0 {
				disposable = append(disposable, in)
				continue
			}
		}
		return "", nil, fmt.Errorf("remove layer %s: layer %s stands on it: %w", id, in.ID, errdefs.ErrConflict)
	}
	if n, err := Mounted(dir); err != nil {
		return "", nil, err
	} else if n > 0 && !force {
		return "", nil, fmt.Errorf("remove layer %s: mounted (%d mounts); unmount it or force: %w", id, n, errdefs.ErrConflict)
	}
	if !keepMount {
		if err := unmountImpl(ctx, dir); err != nil {
			return "", nil, fmt.Errorf("remove layer %s: %w", id, err)
		}
	}
	if len(disposable) > 0 {
		if err := os.MkdirAll(filepath.Join(s.dir, trashDir), 0o700); err != nil {
			return "", nil, fmt.Errorf("remove layer %s: %w", id, err)
		}
	}
	for _, in := range disposable {
		p := s.trashPath(in.ID)
		if err := os.Rename(in.Dir, p); err != nil {
			return "", along, fmt.Errorf("remove layer %s: the layer %s on it: %w", id, in.ID, err)
		}
		along = append(along, p)
	}
	dst = to()
	if err := os.Rename(dir, dst); err != nil {
		return "", along, fmt.Errorf("remove layer %s: %w", id, err)
	}
	return dst, along, nil
}

// Changes lists what layer id changed against its parents; see Changes.
func (s *Store) Changes(ctx context.Context, id string) ([]Change, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	return Changes(ctx, s.Dir(id))
}

// Export writes layer id as a tar diff; see Export.
func (s *Store) Export(ctx context.Context, id string, w io.Writer) error {
	if err := checkID(id); err != nil {
		return err
	}
	return Export(ctx, s.Dir(id), nil, w)
}

// Size returns the bytes of layer id's own files.
func (s *Store) Size(ctx context.Context, id string) (int64, error) {
	if err := checkID(id); err != nil {
		return 0, err
	}
	return Size(ctx, s.Dir(id))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
