package layer

import (
	"context"
	"fmt"
)

// Usage is what layer id's own files take on disk: the bytes of their
// allocated blocks and the inodes (files, folders, links) they use, as
// containerd's snapshotters count a writable layer's usage (the CRI's
// ContainerStats.writable_layer). A hard link's inode counts once.
func (s *Store) Usage(ctx context.Context, id string) (bytes, inodes uint64, err error) {
	if err := checkID(id); err != nil {
		return 0, 0, err
	}
	bytes, inodes, err = usageImpl(ctx, s.Dir(id))
	if err != nil {
		return 0, 0, fmt.Errorf("usage of layer %s: %w", id, err)
	}
	return bytes, inodes, nil
}
