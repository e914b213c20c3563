package clustertest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/eventstored/eventstored/client"
)

// TestLoginRightAfterUsersReplicated: clients log in as admin/changeit on
// every node from the moment the processes start. Until the master has
// created the default users and they are replicated, a node refuses
// (NotAuthenticated "Server not yet ready": it has no user yet, so it
// cannot judge credentials; a TCP operation would get NotHandled
// NotReady, which clients retry). Once the users
// are on every node (WaitSettled), the next login on every node must
// succeed at its first attempt: a refusal from before must not be
// remembered by the node's credential cache (it used to be, for 5 s).
func TestLoginRightAfterUsersReplicated(t *testing.T) {
	c := startCluster(t, Config{})
	ctx := timeout(t, 60*time.Second)
	creds := &client.Credentials{Login: "admin", Password: "changeit"}
	dial := func(ctx context.Context, n *Node) error {
		cl, err := client.Dial(ctx, n.ExtTCPAddr(), client.Options{Credentials: creds, MaxRetries: -1, DialTimeout: time.Second})
		if err == nil {
			cl.Close()
		}
		return err
	}
	var mu sync.Mutex
	refused := map[int]int{}
	reasons := map[string]int{}
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lctx.Err() == nil {
				dctx, cancel := context.WithTimeout(lctx, 2*time.Second)
				err := dial(dctx, n)
				cancel()
				var na *client.NotAuthenticatedError
				if errors.As(err, &na) {
					mu.Lock()
					refused[n.Index]++
					reasons[na.Reason]++
					mu.Unlock()
				}
				select {
				case <-lctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}
	if _, err := c.WaitRoles(ctx); err != nil {
		stop()
		wg.Wait()
		t.Fatal(err)
	}
	err := c.WaitSettled(ctx, 300*time.Millisecond)
	stop()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("logins refused before the users were replicated, per node: %v; reasons %v", refused, reasons)
	if len(refused) == 0 {
		t.Fatal("no login was refused before the users were on the nodes; the test proves nothing")
	}
	// A node without any user yet cannot judge credentials: it says it is
	// not ready, never that admin/changeit is wrong.
	if n := reasons["Unauthorized"]; n > 0 {
		t.Errorf("%d logins were refused as Unauthorized before the users were replicated; want %q", n, "Server not yet ready")
	}
	for _, n := range c.Nodes {
		if err := dial(ctx, n); err != nil {
			t.Errorf("node%d (refused %d times before the users were replicated) refuses admin/changeit once they are: %v",
				n.Index, refused[n.Index], err)
		}
	}
}
