package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"

	"github.com/xiaojinpro/xjp-gateway/internal/pgschema"
)

const (
	// listenPing is how long the listener waits for a notification
	// before it checks that its connection is still alive: a connection
	// silently lost would otherwise leave revocations unheard.
	listenPing = 30 * time.Second
	// maxListenBackoff caps the pause between reconnection attempts.
	maxListenBackoff = 5 * time.Second
)

// listenLoop keeps a connection LISTENing for key changes (see
// pgschema.Channel) and evicts the changed keys from the cache, so that a
// revoked key stops working on every instance at once. It reconnects
// after any failure and ends at Destruct.
func (db *database) listenLoop() {
	defer db.wg.Done()
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		err := db.listenOnce()
		if db.ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			backoff = 100 * time.Millisecond
		}
		logger().Warn("key change listener stopped; reconnecting",
			zap.Duration("backoff", backoff), zap.Error(err))
		t := time.NewTimer(backoff)
		select {
		case <-db.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxListenBackoff)
	}
}

// listenOnce runs one listening connection until it fails.
func (db *database) listenOnce() error {
	ctx := db.ctx
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, db.listen.Copy())
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(ctx)
	}()

	if db.s.Migrate && !db.migrated {
		res, err := pgschema.Migrate(ctx, conn)
		if err != nil {
			return fmt.Errorf("migrating the schema: %w", err)
		}
		db.migrated = true
		logger().Info("database schema up to date", zap.Ints("applied", res.Applied), zap.Int("version", res.Version))
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgschema.Channel); err != nil {
		return err
	}
	// Whatever changed while nobody listened went unheard.
	db.cache.clear()
	db.subscribedOnce.Do(func() { close(db.subscribed) })
	db.event("subscribed")

	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			db.cache.evictHex(n.Payload)
			db.event("evicted " + n.Payload)
		case ctx.Err() != nil:
			return nil
		case pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded):
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("listener connection lost: %w", err)
			}
		default:
			return err
		}
	}
}
