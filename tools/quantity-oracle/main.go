// Command quantity-oracle parses Kubernetes resource quantities with apimachinery's own code and prints, for
// each input, whether Kubernetes accepts it and the exact whole units and thousandths it stands for. The Rust
// tests of karpenter-solver compare quantity.rs with this output (quantity-golden.json).
//
// Usage: go run . inputs.json > golden.json
//
// inputs.json is a JSON array of strings. After them the program adds a fixed, seeded set of short random
// strings over the quantity alphabet, so that the comparison also covers inputs nobody thought of.
package main

import (
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"strings"

	"gopkg.in/inf.v0"
	"k8s.io/apimachinery/pkg/api/resource"
)

// result is what Kubernetes makes of one input. Units and Milli are the value rounded away from zero to whole
// units and to thousandths, computed exactly from the parsed decimal; they are null when the exact result does
// not fit in 64 bits (where Quantity.Value() and MilliValue() silently overflow).
type result struct {
	Input     string `json:"input"`
	Ok        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
	Canonical string `json:"canonical,omitempty"`
	Negative  bool   `json:"negative,omitempty"`
	Units     *int64 `json:"units,omitempty"`
	Milli     *int64 `json:"milli,omitempty"`
}

// The characters a quantity is made of, and a few that are not, for the random inputs.
const alphabet = "0123456789012345678900000.+-eEinumkKMGTP x"

func main() {
	if len(os.Args) != 2 {
		fail("usage: go run . inputs.json > golden.json")
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	var inputs []string
	if err := json.Unmarshal(data, &inputs); err != nil {
		fail("%s: %v", os.Args[1], err)
	}
	random := rand.New(rand.NewPCG(20, 26))
	seen := map[string]bool{}
	for _, input := range inputs {
		seen[input] = true
	}
	want := len(seen) + 2000
	for len(seen) < want {
		n := 1 + random.IntN(7)
		var b strings.Builder
		for range n {
			b.WriteByte(alphabet[random.IntN(len(alphabet))])
		}
		if !seen[b.String()] {
			seen[b.String()] = true
			inputs = append(inputs, b.String())
		}
	}
	results := make([]result, 0, len(inputs))
	for _, input := range inputs {
		results = append(results, parse(input))
	}
	// One result a line, so that a change to the golden file reads as a diff of inputs.
	lines := make([]string, 0, len(results))
	for _, r := range results {
		line, err := json.Marshal(r)
		if err != nil {
			fail("%v", err)
		}
		lines = append(lines, string(line))
	}
	fmt.Printf("[\n%s\n]\n", strings.Join(lines, ",\n"))
}

// parse reads one input the way the API server reads a quantity from JSON (Quantity.UnmarshalJSON trims
// white space first).
func parse(input string) result {
	q, err := resource.ParseQuantity(strings.TrimSpace(input))
	if err != nil {
		return result{Input: input, Error: err.Error()}
	}
	dec := q.AsDec()
	return result{
		Input:     input,
		Ok:        true,
		Canonical: q.String(),
		Negative:  q.Sign() < 0,
		Units:     rounded(dec, 0),
		Milli:     rounded(dec, 3),
	}
}

// rounded is dec rounded away from zero to `scale` decimal places, as an integer count of 10^-scale, or nil
// when that does not fit in an int64.
func rounded(dec *inf.Dec, scale inf.Scale) *int64 {
	r := new(inf.Dec).Round(dec, scale, inf.RoundUp)
	unscaled := new(big.Int).Set(r.UnscaledBig())
	if r.Scale() != scale {
		fail("rounding %s to scale %d gave scale %d", dec, scale, r.Scale())
	}
	if !unscaled.IsInt64() {
		return nil
	}
	v := unscaled.Int64()
	return &v
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "quantity-oracle: "+format+"\n", args...)
	os.Exit(1)
}
