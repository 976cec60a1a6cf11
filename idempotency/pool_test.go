package idempotency

import (
	"strings"
	"testing"
)

func TestAcquireSharesAcrossConfigurations(t *testing.T) {
	m1, release1, err := AcquireMemory(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	m2, release2, _ := AcquireMemory(2 << 20) // a reload overlaps the old configuration
	if m1 != m2 {
		t.Fatal("a reload got a new memory store")
	}
	_ = release1()
	_ = release1() // releasing twice releases once
	m3, release3, _ := AcquireMemory(2 << 20)
	if m3 != m1 || m3.capacity != 2<<20 {
		t.Fatal("the store did not survive the old configuration's cleanup")
	}
	_, _ = release2(), release3()

	c1, r1, err := AcquireRedis("redis://127.0.0.1:6379/0")
	if err != nil {
		t.Fatal(err)
	}
	c2, r2, _ := AcquireRedis("redis://127.0.0.1:6379/0")
	if c1 != c2 {
		t.Fatal("two configurations with one url got two clients")
	}
	_, _ = r1(), r2()

	_, _, err = AcquireRedis("redis://user:s3cret@127.0.0.1:notaport/0")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("bad url: err = %v", err)
	}
}
