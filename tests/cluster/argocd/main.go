// argocd-health judges Kubernetes objects the way Argo CD v3 does: it loads the
// resource customizations from an argocd-cm ConfigMap through Argo CD's own
// settings manager (which only reads ConfigMaps labelled
// app.kubernetes.io/part-of=argocd) and runs Argo CD's health assessment
// (gitops-engine's GetResourceHealth with Argo CD's Lua VM and its default,
// restricted Lua libraries) on every object read from standard input.
//
// Usage:
//
//	argocd-health --argocd-cm FILE [--namespace argocd] < objects.json
//	argocd-health --cluster --namespace argocd < objects.json
//
// With --cluster the ConfigMap is read from the API server in KUBECONFIG, the
// way a running Argo CD reads it. Standard input holds one object or a List
// (kubectl get -o json). For each object one JSON line is printed:
//
//	{"name":…,"argocd":{"status":…,"message":…},"script":{…}}
//
// "argocd" is what Argo CD shows in its health column (Unknown with the error
// when the script fails, as the application controller does); "script" is the
// whole table the health script returned when run alone in the same VM, so that
// fields this Argo CD release does not read yet (hs.deletionMessage) can be
// checked too.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/argoproj/argo-cd/gitops-engine/pkg/health"
	argolua "github.com/argoproj/argo-cd/v3/util/lua"
	"github.com/argoproj/argo-cd/v3/util/settings"
	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/clientcmd"
	luajson "layeh.com/gopher-json"
	"sigs.k8s.io/yaml"
)

type verdict struct {
	Name   string                 `json:"name"`
	ArgoCD health.HealthStatus    `json:"argocd"`
	Script map[string]interface{} `json:"script,omitempty"`
	Error  string                 `json:"scriptError,omitempty"`
}

func main() {
	cmPath := flag.String("argocd-cm", "", "file holding the argocd-cm ConfigMap")
	cluster := flag.Bool("cluster", false, "read argocd-cm from the API server in KUBECONFIG")
	namespace := flag.String("namespace", "argocd", "Argo CD's namespace")
	flag.Parse()
	if err := run(*cmPath, *cluster, *namespace, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "argocd-health:", err)
		os.Exit(1)
	}
}

func run(cmPath string, cluster bool, namespace string, in io.Reader, out io.Writer) error {
	clientset, err := clientFor(cmPath, cluster, namespace)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mgr := settings.NewSettingsManager(ctx, clientset, namespace)
	overrides, err := mgr.GetResourceOverrides()
	if err != nil {
		return fmt.Errorf("loading resource overrides: %w", err)
	}

	data, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	objects, err := decode(data)
	if err != nil {
		return err
	}
	healthOverrides := argolua.ResourceHealthOverrides(overrides)
	enc := json.NewEncoder(out)
	for _, obj := range objects {
		v := verdict{Name: obj.GetName()}
		status, err := health.GetResourceHealth(obj, healthOverrides)
		switch {
		case err != nil:
			v.ArgoCD = health.HealthStatus{Status: health.HealthStatusUnknown, Message: err.Error()}
		case status == nil:
			v.ArgoCD = health.HealthStatus{Status: health.HealthStatusUnknown, Message: "no health check configured"}
		default:
			v.ArgoCD = *status
		}
		vm := argolua.VM{ResourceOverrides: overrides}
		script, useOpenLibs, err := vm.GetHealthScript(obj)
		if err == nil && script != "" {
			v.Script, err = runScript(obj, script, useOpenLibs)
		}
		if err != nil {
			v.Error = err.Error()
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return nil
}

// clientFor returns a client of the API server, or one of a fake API server
// that holds only the given ConfigMap (as `argocd admin settings` does, except
// that the ConfigMap's labels are kept as written: a ConfigMap Argo CD would
// ignore is ignored here too).
func clientFor(cmPath string, cluster bool, namespace string) (kubernetes.Interface, error) {
	if cluster {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
		if err != nil {
			return nil, err
		}
		return kubernetes.NewForConfig(config)
	}
	if cmPath == "" {
		return nil, errors.New("either --argocd-cm FILE or --cluster is needed")
	}
	data, err := os.ReadFile(cmPath)
	if err != nil {
		return nil, err
	}
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal(data, &cm); err != nil {
		return nil, fmt.Errorf("%s: %w", cmPath, err)
	}
	if cm.Namespace == "" {
		cm.Namespace = namespace
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: "argocd-secret", Namespace: namespace,
			Labels: map[string]string{"app.kubernetes.io/part-of": "argocd"},
		},
		Data: map[string][]byte{"server.secretkey": []byte("test")},
	}
	return fake.NewClientset(&cm, secret), nil
}

func decode(data []byte) ([]*unstructured.Unstructured, error) {
	// Decoded as the API machinery (and so Argo CD's cache) does: whole
	// numbers as int64.
	jsonData, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("reading objects: %w", err)
	}
	decoded, _, err := unstructured.UnstructuredJSONScheme.Decode(jsonData, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("reading objects: %w", err)
	}
	switch decoded := decoded.(type) {
	case *unstructured.Unstructured:
		return []*unstructured.Unstructured{decoded}, nil
	case *unstructured.UnstructuredList:
		objects := make([]*unstructured.Unstructured, 0, len(decoded.Items))
		for i := range decoded.Items {
			objects = append(objects, &decoded.Items[i])
		}
		return objects, nil
	default:
		return nil, fmt.Errorf("reading objects: unexpected %T", decoded)
	}
}

// runScript runs a health script in a Lua state set up like Argo CD's VM
// (util/lua.VM.runLua): standard libraries closed unless the customization
// opts in, then package, base, table and Argo CD's safe os library opened, the
// object as the global obj, a one second limit. It returns the whole table the
// script returned.
func runScript(obj *unstructured.Unstructured, script string, useOpenLibs bool) (map[string]interface{}, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !useOpenLibs})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, argolua.OpenSafeOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), Protect: true}, lua.LString(lib.name)); err != nil {
			return nil, err
		}
	}
	l.PreloadModule(lua.OsLibName, argolua.SafeOsLoader)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	objJSON, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, err
	}
	value, err := luajson.Decode(l, objJSON)
	if err != nil {
		return nil, err
	}
	l.SetGlobal("obj", value)
	if err := l.DoString(script); err != nil {
		return nil, err
	}
	ret := l.Get(-1)
	if ret.Type() != lua.LTTable {
		return nil, fmt.Errorf("health script returned %s, not a table", ret.Type())
	}
	encoded, err := luajson.Encode(ret)
	if err != nil {
		return nil, err
	}
	table := map[string]interface{}{}
	if err := json.Unmarshal(encoded, &table); err != nil {
		return nil, err
	}
	return table, nil
}
