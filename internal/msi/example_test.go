package msi_test

import (
	"context"
	"net"
	"os"
	"os/exec"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/msi"
	"github.com/amlid/amlid/internal/token"
	"github.com/amlid/amlid/internal/workload"
)

// Example shows the wiring the integrator does for `amlid up` / `amlid run`:
// one registry and one handler on a dedicated loopback listener; one
// workload per process, unregistered when it exits.
func Example() {
	ctx := context.Background()
	var tokens *token.Service // the server's token service
	var resolver workload.ResolverFunc = func(ctx context.Context, resourceID string) ([]*directory.Principal, error) {
		return nil, nil // ARM state: the resource's identities, default first
	}
	reg := workload.NewRegistry(resolver)
	h, err := msi.New(msi.Config{Registry: reg, Tokens: tokens})
	if err != nil {
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return
	}
	go func() { _ = h.Server().Serve(ln) }()
	base := "http://" + ln.Addr().String()

	w, err := reg.Register(ctx, "/subscriptions/…/computes/cpu", workload.WithLabel("job j1"))
	if err != nil {
		return
	}
	defer reg.Unregister(w.ID) // credentials die with the process

	cmd := exec.Command("python3", "train.py")
	cmd.Env = msi.Environ(os.Environ(), w, base)
	cmd.Env = append(cmd.Env, "UAI_CLIENT_ID=…") // the job's own environment_variables
	_ = cmd.Run()
}
