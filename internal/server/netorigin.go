package server

import (
	"context"
	"strings"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/netorigin"
)

// workloadOrigin is the proxy's hostport.OriginFunc: a workload's own
// proxy credential (HTTPS_PROXY of a job node, compute instance process,
// deployment, `amlid run --as`) names the workload, and so the resource
// its requests come from (virtual-network rules, rule DS-8).
func (s *Server) workloadOrigin(password string) (netorigin.Origin, bool) {
	w, ok := s.Workloads.ByProxySecret(password)
	if !ok {
		return netorigin.Origin{}, false
	}
	return netorigin.Origin{ResourceID: w.ResourceID, Workload: w.Handle, Label: w.Label}, true
}

// subnetOf is the blob plane's SubnetOf: the subnet of a workload's
// compute (properties.properties.subnet.id), read from ARM state on every
// request; "" for other resources (an online endpoint's deployment) and
// computes outside any subnet.
func (s *Server) subnetOf(ctx context.Context, resourceID string) (string, string) {
	name := resourceID[strings.LastIndexByte(resourceID, '/')+1:]
	res, err := access.StoreSource(s.Store).Get(ctx, resourceID)
	if err != nil {
		return "", resourceID
	}
	if !strings.EqualFold(res.Type, catalog.TypeCompute) {
		return "", res.Type + " " + name
	}
	return access.SubnetOf(res), "compute " + res.Name
}
