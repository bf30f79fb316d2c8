package rendertest

import (
	"cmp"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// The release as deploy/README.md installs it (`helm install gatehouse
// deploy/helm/gatehouse`): its objects are all named "gatehouse".
const (
	releaseName = "gatehouse"
	namespace   = "crm"
	// The oldest Kubernetes the chart supports (the preStop sleep action).
	kubeVersion = "v1.30.0"
)

// manifests is what the chart renders, decoded strictly into the
// Kubernetes API types (an unknown field fails the decode).
type manifests struct {
	deployment     *appsv1.Deployment
	services       []corev1.Service
	configMaps     map[string]corev1.ConfigMap
	pdb            *policyv1.PodDisruptionBudget
	ingress        *networkingv1.Ingress
	serviceMonitor map[string]any
}

// render renders deploy/helm/gatehouse as `helm template` does (an
// install with a client-side dry run: no cluster) with the given values
// on top of the chart's.
func render(t *testing.T, values map[string]any) manifests {
	t.Helper()
	rel, err := renderAt(t, kubeVersion, values)
	if err != nil {
		t.Fatalf("render the chart: %v", err)
	}
	m := manifests{configMaps: map[string]corev1.ConfigMap{}}
	for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, doc)
		}
		strict := func(v any) {
			t.Helper()
			if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
				t.Fatalf("%s %s: %v\n%s", head.APIVersion, head.Kind, err, doc)
			}
		}
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 Deployment":
			if m.deployment != nil {
				t.Fatal("two Deployments")
			}
			m.deployment = new(appsv1.Deployment)
			strict(m.deployment)
		case "v1 Service":
			var s corev1.Service
			strict(&s)
			m.services = append(m.services, s)
		case "v1 ConfigMap":
			var c corev1.ConfigMap
			strict(&c)
			m.configMaps[c.Name] = c
		case "policy/v1 PodDisruptionBudget":
			m.pdb = new(policyv1.PodDisruptionBudget)
			strict(m.pdb)
		case "networking.k8s.io/v1 Ingress":
			m.ingress = new(networkingv1.Ingress)
			strict(m.ingress)
		case "monitoring.coreos.com/v1 ServiceMonitor":
			strict(&m.serviceMonitor)
		default:
			t.Fatalf("the chart renders a %s %s this test does not know", head.APIVersion, head.Kind)
		}
	}
	if m.deployment == nil || len(m.services) != 1 || len(m.configMaps) != 1 {
		t.Fatalf("want one Deployment, Service and ConfigMap, got %v, %d, %d", m.deployment != nil, len(m.services), len(m.configMaps))
	}
	return m
}

// renderAt renders the chart for a cluster of the given version.
func renderAt(t *testing.T, version string, values map[string]any) (*release.Release, error) {
	t.Helper()
	chrt, err := loader.Load(filepath.Join(repoRoot, "deploy/helm/gatehouse"))
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = releaseName
	install.Namespace = namespace
	install.Replace = true
	if install.KubeVersion, err = common.ParseKubeVersion(version); err != nil {
		t.Fatal(err)
	}
	r, err := install.RunWithContext(t.Context(), chrt, values)
	if err != nil {
		return nil, err
	}
	rel, ok := r.(*release.Release)
	if !ok {
		t.Fatalf("render: got a %T", r)
	}
	return rel, nil
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// operatorSecret is the Secret deploy/README.md tells the operator to
// create (kubectl create secret generic gatehouse --from-literal=…
// --from-file=gatehouse.keys=…), with fresh key material.
func operatorSecret() map[string][]byte {
	return map[string][]byte{
		"gatehouse-dsn":  fmt.Appendf(nil, "postgres://gatehouse:%s@db:5432/gatehouse?sslmode=verify-full", randomHex(16)),
		"redis-password": []byte(randomHex(16)),
		"gatehouse.keys": keyFile(),
	}
}

// atomicDir is the timestamped directory the kubelet writes a ConfigMap
// or Secret volume into; ..data points at it and each key is a symlink
// through ..data.
const atomicDir = "..2026_01_01_00_00_00.000000001"

// kube is the gateway's container as the kubelet would start it from the
// rendered Deployment, with secrets holding the Secrets' data by name.
func kube(t *testing.T, m manifests, img image, secrets map[string]map[string][]byte) *container {
	t.Helper()
	pod := m.deployment.Spec.Template.Spec
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("want one container, got %d (and %d init containers)", len(pod.Containers), len(pod.InitContainers))
	}
	ctr := pod.Containers[0]
	c := &container{name: "helm " + m.deployment.Name}

	// The command line: command replaces the image's ENTRYPOINT (and
	// drops its CMD), args replace CMD.
	switch {
	case len(ctr.Command) > 0:
		c.argv = append(slices.Clone(ctr.Command), ctr.Args...)
	case len(ctr.Args) > 0:
		c.argv = append(slices.Clone(img.entrypoint), ctr.Args...)
	default:
		c.argv = append(slices.Clone(img.entrypoint), img.cmd...)
	}
	cfgPath := (&container{argv: c.argv}).configPath(t)

	// The user: the container's securityContext over the pod's over the
	// image's USER; fsGroup and supplementalGroups join the groups.
	psc, csc := pod.SecurityContext, ctr.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	c.uid, c.gid = img.uid, img.gid
	if v := firstSet(csc.RunAsUser, psc.RunAsUser); v != nil {
		c.uid = int(*v)
	}
	if v := firstSet(csc.RunAsGroup, psc.RunAsGroup); v != nil {
		c.gid = int(*v)
	}
	c.groups = []uint32{uint32(c.gid)}
	fsGroup := -1
	if psc.FSGroup != nil {
		fsGroup = int(*psc.FSGroup)
		c.groups = append(c.groups, uint32(fsGroup))
	}
	for _, g := range psc.SupplementalGroups {
		c.groups = append(c.groups, uint32(g))
	}
	c.workdir = cmp.Or(ctr.WorkingDir, img.workdir)

	c.env = kubeEnv(t, m, pod, ctr, img, secrets)

	// The image's own files, then the volumes over them.
	c.entries = append(c.entries, img.entries...)
	for _, e := range img.entries {
		c.mounts = append(c.mounts, e.path)
	}
	for _, vm := range ctr.VolumeMounts {
		if vm.SubPath != "" || vm.SubPathExpr != "" {
			t.Fatalf("volume %s: subPath is not emulated", vm.Name)
		}
		i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if i < 0 {
			t.Fatalf("volumeMount %s names no volume", vm.Name)
		}
		vol := pod.Volumes[i]
		c.mount(vm.MountPath)
		switch {
		case vol.ConfigMap != nil:
			cm, ok := m.configMaps[vol.ConfigMap.Name]
			if !ok {
				t.Fatalf("volume %s: ConfigMap %s is not rendered by the chart", vol.Name, vol.ConfigMap.Name)
			}
			data := map[string][]byte{}
			for k, v := range cm.Data {
				data[k] = []byte(v)
			}
			projected(t, c, vm.MountPath, data, vol.ConfigMap.Items, vol.ConfigMap.DefaultMode, fsGroup, cfgPath)
		case vol.Secret != nil:
			data, ok := secrets[vol.Secret.SecretName]
			if !ok {
				t.Fatalf("volume %s: Secret %s is not one the operator creates", vol.Name, vol.Secret.SecretName)
			}
			projected(t, c, vm.MountPath, data, vol.Secret.Items, vol.Secret.DefaultMode, fsGroup, cfgPath)
		case vol.EmptyDir != nil:
			// 0777; with fsGroup its group, setgid.
			e := entry{path: vm.MountPath, kind: 'd', mode: 0o777}
			if fsGroup >= 0 {
				e.gid, e.mode = fsGroup, e.mode|fs.ModeSetgid
			}
			c.add(e)
		default:
			t.Fatalf("volume %s: only configMap, secret and emptyDir volumes are emulated", vol.Name)
		}
	}
	return c
}

// projected lays a ConfigMap or Secret volume out as the kubelet does:
// the files in a timestamped directory, ..data pointing at it, a symlink
// per key; each file root's, with the item's mode, else defaultMode,
// else 0644. With fsGroup the kubelet then gives every file the group
// fsGroup and adds group read (0440: these volumes are read-only).
func projected(t *testing.T, c *container, dir string, data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32, fsGroup int, cfgPath string) {
	t.Helper()
	mode := fs.FileMode(0o644)
	if defaultMode != nil {
		mode = fs.FileMode(*defaultMode)
	}
	type file struct {
		path string
		mode fs.FileMode
		data []byte
	}
	var files []file
	if len(items) == 0 {
		for _, k := range slices.Sorted(maps.Keys(data)) {
			files = append(files, file{k, mode, data[k]})
		}
	}
	for _, it := range items {
		d, ok := data[it.Key]
		if !ok {
			t.Fatalf("volume at %s: item %s is not in the data", dir, it.Key)
		}
		f := file{it.Path, mode, d}
		if it.Mode != nil {
			f.mode = fs.FileMode(*it.Mode)
		}
		if strings.Contains(it.Path, "/") {
			t.Fatalf("volume at %s: item path %s: subdirectories are not emulated", dir, it.Path)
		}
		files = append(files, f)
	}
	gid, dirMode := 0, fs.FileMode(0o755)
	if fsGroup >= 0 {
		gid, dirMode = fsGroup, dirMode|fs.ModeSetgid
	}
	c.add(entry{path: dir, kind: 'd', mode: dirMode, gid: gid})
	c.add(entry{path: dir + "/" + atomicDir, kind: 'd', mode: dirMode, gid: gid})
	c.add(entry{path: dir + "/..data", kind: 'l', target: atomicDir, gid: gid})
	for _, f := range files {
		if fsGroup >= 0 {
			f.mode |= 0o440
		}
		c.add(entry{path: dir + "/" + atomicDir + "/" + f.path, kind: 'f', data: f.data, mode: f.mode, gid: gid,
			config: dir+"/"+f.path == cfgPath})
		c.add(entry{path: dir + "/" + f.path, kind: 'l', target: "..data/" + f.path, gid: gid})
	}
}

// kubeEnv is the container's environment as the kubelet builds it: the
// image's, then the service links (unless enableServiceLinks is false)
// and the kubernetes Service's (always), then envFrom, then env; a later
// source wins, except that service variables never override the
// container's own.
func kubeEnv(t *testing.T, m manifests, pod corev1.PodSpec, ctr corev1.Container, img image, secrets map[string]map[string][]byte) []string {
	t.Helper()
	env := map[string]string{}
	for _, kv := range img.env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	env["HOSTNAME"] = m.deployment.Name + "-7d9f8b6c5-x2x4q"
	own := map[string]string{}
	lookup := func(cm *corev1.ConfigMapKeySelector, sk *corev1.SecretKeySelector) string {
		switch {
		case cm != nil:
			v, ok := m.configMaps[cm.Name].Data[cm.Key]
			if !ok {
				t.Fatalf("env: ConfigMap %s has no key %s", cm.Name, cm.Key)
			}
			return v
		case sk != nil:
			v, ok := secrets[sk.Name][sk.Key]
			if !ok {
				t.Fatalf("env: Secret %s has no key %s", sk.Name, sk.Key)
			}
			return string(v)
		}
		t.Fatal("env: only configMapKeyRef and secretKeyRef are emulated")
		return ""
	}
	for _, ef := range ctr.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			for k, v := range m.configMaps[ef.ConfigMapRef.Name].Data {
				own[ef.Prefix+k] = v
			}
		case ef.SecretRef != nil:
			for k, v := range secrets[ef.SecretRef.Name] {
				own[ef.Prefix+k] = string(v)
			}
		}
	}
	for _, e := range ctr.Env {
		if strings.Contains(e.Value, "$(") {
			t.Fatalf("env %s: $(VAR) references are not emulated", e.Name)
		}
		if e.ValueFrom != nil {
			own[e.Name] = lookup(e.ValueFrom.ConfigMapKeyRef, e.ValueFrom.SecretKeyRef)
		} else {
			own[e.Name] = e.Value
		}
	}
	services := []corev1.Service{{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}},
	}}
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		// The chart's own Service; every other Service in the namespace
		// (redis, postgres, the CRM) would add its variables too.
		for i, s := range m.services {
			s.Spec.ClusterIP = fmt.Sprintf("10.96.1.%d", i+10)
			services = append(services, s)
		}
	}
	for k, v := range serviceEnv(services) {
		env[k] = v
	}
	maps.Copy(env, own)
	var out []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// serviceEnv is the kubelet's variables for Services (pkg/kubelet/envvars):
// NAME_SERVICE_HOST, NAME_SERVICE_PORT[_PORTNAME], and the Docker-link
// style NAME_PORT, NAME_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR].
func serviceEnv(services []corev1.Service) map[string]string {
	env := map[string]string{}
	for _, s := range services {
		name := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
		ip := s.Spec.ClusterIP
		env[name+"_SERVICE_HOST"] = ip
		for i, p := range s.Spec.Ports {
			port := strconv.Itoa(int(p.Port))
			proto := strings.ToLower(string(cmp.Or(p.Protocol, corev1.ProtocolTCP)))
			url := proto + "://" + net.JoinHostPort(ip, port)
			if i == 0 {
				env[name+"_SERVICE_PORT"] = port
				env[name+"_PORT"] = url
			}
			if p.Name != "" {
				env[name+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))] = port
			}
			pre := name + "_PORT_" + port + "_" + strings.ToUpper(proto)
			env[pre] = url
			env[pre+"_PROTO"] = proto
			env[pre+"_PORT"] = port
			env[pre+"_ADDR"] = ip
		}
	}
	return env
}

// firstSet returns the first non-nil pointer.
func firstSet[T any](ps ...*T) *T {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}
