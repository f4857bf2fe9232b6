// Command hash-oracle prints the drift hashes that upstream Karpenter computes for the NodePools and
// EC2NodeClasses in the YAML files named on its command line. The Rust tests of karpenter-api compare
// their own hashes with this output, so the program links upstream's API packages and nothing else.
//
// Usage: go run . FILE... > vectors.json
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/yaml"
)

// vector is one manifest's hash, keyed by the file and the object's kind and name.
type vector struct {
	File string `json:"file"`
	Kind string `json:"kind"`
	Name string `json:"name"`
	Hash string `json:"hash"`
}

func main() {
	vectors := []vector{}
	for _, path := range os.Args[1:] {
		data, err := os.ReadFile(path)
		if err != nil {
			fail("%s: %v", path, err)
		}
		for _, doc := range bytes.Split(data, []byte("\n---")) {
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			vectors = append(vectors, hashDocument(path, doc)...)
		}
	}
	out, err := json.MarshalIndent(vectors, "", "  ")
	if err != nil {
		fail("%v", err)
	}
	fmt.Println(string(out))
}

// hashDocument hashes one YAML document; kinds other than the two hashed ones are skipped.
func hashDocument(path string, doc []byte) []vector {
	var head struct {
		Kind string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		fail("%s: %v", path, err)
	}
	file := path[strings.LastIndex(path, "/")+1:]
	switch head.Kind {
	case "NodePool":
		var pool karpv1.NodePool
		if err := yaml.UnmarshalStrict(doc, &pool); err != nil {
			fail("%s: %v", path, err)
		}
		return []vector{{File: file, Kind: head.Kind, Name: pool.Name, Hash: pool.Hash()}}
	case "EC2NodeClass":
		var class awsv1.EC2NodeClass
		if err := yaml.UnmarshalStrict(doc, &class); err != nil {
			fail("%s: %v", path, err)
		}
		// The controller hashes with the cluster's CA bundle; vectors cover both an absent and a present one.
		ca := "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"
		return []vector{
			{File: file, Kind: head.Kind, Name: class.Name, Hash: class.Hash(nil)},
			{File: file, Kind: head.Kind, Name: class.Name + "+ca", Hash: class.Hash(&ca)},
		}
	}
	return nil
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "hash-oracle: "+format+"\n", args...)
	os.Exit(1)
}
