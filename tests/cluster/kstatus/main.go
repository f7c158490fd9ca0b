// kstatus computes the kstatus verdict (what Flux's `wait` and kstatus-based
// tools use) of every object read from standard input: one object or a List
// (kubectl get -o json). It prints one JSON line per object:
//
//	{"name":…,"status":"Current|InProgress|Failed|…","message":…}
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

type verdict struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	data, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	// Decoded as the API machinery does (whole numbers as int64), from JSON or YAML.
	jsonData, err := yaml.YAMLToJSON(data)
	if err != nil {
		return fmt.Errorf("reading objects: %w", err)
	}
	decoded, _, err := unstructured.UnstructuredJSONScheme.Decode(jsonData, nil, nil)
	if err != nil {
		return fmt.Errorf("reading objects: %w", err)
	}
	var objects []unstructured.Unstructured
	switch decoded := decoded.(type) {
	case *unstructured.UnstructuredList:
		objects = decoded.Items
	case *unstructured.Unstructured:
		objects = []unstructured.Unstructured{*decoded}
	default:
		return fmt.Errorf("reading objects: unexpected %T", decoded)
	}
	enc := json.NewEncoder(out)
	for i := range objects {
		result, err := status.Compute(&objects[i])
		if err != nil {
			return fmt.Errorf("%s: %w", objects[i].GetName(), err)
		}
		v := verdict{Name: objects[i].GetName(), Status: result.Status.String(), Message: result.Message}
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return nil
}
