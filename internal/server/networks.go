package server

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/network"

	"github.com/hullproject/hull/internal/filters"
)

// NetworkBackend serves /networks.
type NetworkBackend interface {
	NetworkList(ctx context.Context, f filters.Args) ([]network.Inspect, error)
	NetworkInspect(ctx context.Context, id string) (network.Inspect, error)
	NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error)
	NetworkRemove(ctx context.Context, id string) error
	NetworkConnect(ctx context.Context, id string, req network.ConnectRequest) error
	NetworkDisconnect(ctx context.Context, id string, req network.DisconnectRequest) error
	// NetworksPrune removes what the filters select, or nothing when a
	// filter is wrong.
	NetworksPrune(ctx context.Context, f filters.Args) (network.PruneReport, error)
}

func (s *Server) networkRoutes() {
	s.handle("GET /networks", func(w http.ResponseWriter, r *http.Request) error {
		f, err := queryFilters(r)
		if err != nil {
			return err
		}
		l, err := s.backend.NetworkList(r.Context(), f)
		if err != nil {
			return err
		}
		out, err := networkListVersion(r.Context(), l)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, out)
	})
	s.handle("GET /networks/{id}", func(w http.ResponseWriter, r *http.Request) error {
		n, err := s.backend.NetworkInspect(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		out, err := networkInspectVersion(r.Context(), n)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, out)
	})
	s.handle("POST /networks/create", func(w http.ResponseWriter, r *http.Request) error {
		var req network.CreateRequest
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
		networkCreateVersion(r.Context(), &req)
		resp, err := s.backend.NetworkCreate(r.Context(), req)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, resp)
	})
	s.handle("DELETE /networks/{id}", func(w http.ResponseWriter, r *http.Request) error {
		if err := s.backend.NetworkRemove(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	s.handle("POST /networks/{id}/connect", func(w http.ResponseWriter, r *http.Request) error {
		var req network.ConnectRequest
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
		networkConnectVersion(r.Context(), &req)
		if err := s.backend.NetworkConnect(r.Context(), r.PathValue("id"), req); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
	s.handle("POST /networks/{id}/disconnect", func(w http.ResponseWriter, r *http.Request) error {
		var req network.DisconnectRequest
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
		if err := s.backend.NetworkDisconnect(r.Context(), r.PathValue("id"), req); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
	s.handle("POST /networks/prune", func(w http.ResponseWriter, r *http.Request) error {
		f, err := queryFilters(r)
		if err != nil {
			return err
		}
		rep, err := s.backend.NetworksPrune(r.Context(), f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, rep)
	})
}
