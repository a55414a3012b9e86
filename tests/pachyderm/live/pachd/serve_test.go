// Package pachs3livepachd runs pachd 2.6.0's real PFS, PPS, auth and transaction servers in one
// process (Pachyderm's own realenv: embedded etcd, chunks on local disk, an external Postgres) and
// keeps them serving until SIGINT/SIGTERM. It is a test binary because realenv needs a testing.TB:
//
//	go test -c -o pachd-live . && ./pachd-live -test.run TestServe -test.timeout 0
//
// Environment: PACHS3_LIVE_ADDRESS_FILE (where the gRPC address is written once serving),
// PACHS3_LIVE_PG_HOST, PACHS3_LIVE_PG_PORT, PACHS3_LIVE_PGBOUNCER_PORT, PACHS3_LIVE_PG_DB,
// PACHS3_LIVE_PG_USER, PACHS3_LIVE_PG_PASSWORD.
package pachs3livepachd

import (
	"context"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"

	"github.com/pachyderm/pachyderm/v2/src/internal/serviceenv"
	"github.com/pachyderm/pachyderm/v2/src/internal/testpachd/realenv"
)

func setting(t *testing.T, name string) string {
	value := os.Getenv(name)
	if value == "" {
		t.Fatalf("%s is not set", name)
	}
	return value
}

func port(t *testing.T, name string) int {
	value, err := strconv.Atoi(setting(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return value
}

// postgresOptions points pachd at the Postgres the driver script started: the direct connection
// (used for LISTEN/NOTIFY) at the server, pooled queries through pgbouncer, as in a deployment.
func postgresOptions(t *testing.T) serviceenv.ConfigOption {
	host := setting(t, "PACHS3_LIVE_PG_HOST")
	direct := port(t, "PACHS3_LIVE_PG_PORT")
	pooled := port(t, "PACHS3_LIVE_PGBOUNCER_PORT")
	database := setting(t, "PACHS3_LIVE_PG_DB")
	user := setting(t, "PACHS3_LIVE_PG_USER")
	password := setting(t, "PACHS3_LIVE_PG_PASSWORD")
	return func(config *serviceenv.Configuration) {
		config.PostgresHost = host
		config.PostgresPort = direct
		config.PGBouncerHost = host
		config.PGBouncerPort = pooled
		config.PostgresDBName = database
		config.IdentityServerDatabase = database
		config.PostgresUser = user
		config.PostgresPassword = password
	}
}

func TestServe(t *testing.T) {
	addressFile := setting(t, "PACHS3_LIVE_ADDRESS_FILE")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	env := realenv.NewRealEnv(ctx, t, postgresOptions(t))
	address := env.MockPachd.Addr.String()
	// Written last and renamed into place, so a reader never sees a half-written address.
	if err := os.WriteFile(addressFile+".tmp", []byte(address+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(addressFile+".tmp", addressFile); err != nil {
		t.Fatal(err)
	}
	t.Logf("pachd 2.6.0 (realenv) serving on %s", address)
	<-ctx.Done()
	t.Logf("stopping")
}
