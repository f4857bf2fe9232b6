// Command go-rand writes the random stream upstream Karpenter's scheduling benchmark draws from, so that the Rust
// benchmarks build exactly the same pods without a Go toolchain.
//
// The benchmark (`pkg/controllers/provisioning/scheduling/scheduling_benchmark_test.go`) draws every choice with
// `r.Intn(k)` for k in {5, 6, 7} from `rand.New(rand.NewSource(42))`. Intn(k) is Int31() % k unless Int31() falls in
// the short rejected tail above the largest multiple of k, so the value of Int31() modulo 210 (a multiple of 5, 6
// and 7) answers every draw. This program writes that residue, one byte per draw, and fails if any draw in the
// stream would have been rejected (so the residues are exact).
//
// Run: go run . > ../go-rand-seed42.bin
package main

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
)

const draws = 100000

func main() {
	r := rand.New(rand.NewSource(42))
	out := bufio.NewWriter(os.Stdout)
	for i := 0; i < draws; i++ {
		v := r.Int31()
		for _, k := range []int32{5, 6, 7} {
			limit := int32((1 << 31) - 1 - (1<<31)%uint32(k))
			if v > limit {
				fmt.Fprintf(os.Stderr, "draw %d would be rejected by Intn(%d); the residue encoding is not exact\n", i, k)
				os.Exit(1)
			}
		}
		out.WriteByte(byte(v % 210))
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
