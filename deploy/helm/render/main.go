// Command render prints the manifests of a Helm chart the way `helm
// template` would, for checking the chart on machines without helm (Debian
// 12 does not package it). It uses the engine and function library Helm
// uses, Go's text/template with sprig, plus Helm's own include, tpl,
// toYaml, fromYaml and required, and Helm's built-in objects (.Values,
// .Chart, .Release, .Files, .Template, .Capabilities) as far as charts here
// use them.
//
//	render CHART_DIR [VALUES_FILE...]
//
// Values files are merged over the chart's values.yaml in order, maps key
// by key. Manifests go to standard output, one YAML document per template,
// each preceded by "# Source: CHART/templates/FILE"; NOTES.txt is rendered
// (so that its errors show) but not printed. Exit status 1 on any error.
//
// Build without network access from Debian's Go packages (golang-go,
// golang-github-masterminds-sprig-dev, golang-gopkg-yaml.v3-dev):
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o render .
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

// chartFiles is .Files: the chart's files by path relative to the chart.
type chartFiles map[string][]byte

// Get returns the file's contents, or "" when there is no such file (as
// Helm does).
func (f chartFiles) Get(name string) string { return string(f[name]) }

func readYAML(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	values := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &values); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return values, nil
}

// merge sets every key of overrides in base; maps present on both sides
// are merged recursively, anything else is replaced.
func merge(base, overrides map[string]interface{}) {
	for key, value := range overrides {
		if sub, ok := value.(map[string]interface{}); ok {
			if baseSub, ok := base[key].(map[string]interface{}); ok {
				merge(baseSub, sub)
				continue
			}
		}
		base[key] = value
	}
}

func toYAML(value interface{}) (string, error) {
	var out bytes.Buffer
	encoder := yaml.NewEncoder(&out)
	encoder.SetIndent(2)
	if err := encoder.Encode(value); err != nil {
		return "", err
	}
	return strings.TrimSuffix(out.String(), "\n"), nil
}

func run(chartDir string, valueFiles []string) error {
	chart, err := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	values, err := readYAML(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return err
	}
	for _, path := range valueFiles {
		overrides, err := readYAML(path)
		if err != nil {
			return err
		}
		merge(values, overrides)
	}
	name := fmt.Sprint(chart["name"])

	files := chartFiles{}
	var templates []string
	err = filepath.Walk(chartDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(chartDir, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[rel] = data
		if strings.HasPrefix(rel, "templates/") {
			templates = append(templates, rel)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(templates)

	root := template.New(name).Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["toYaml"] = func(value interface{}) (string, error) { return toYAML(value) }
	funcs["fromYaml"] = func(text string) (map[string]interface{}, error) {
		out := map[string]interface{}{}
		err := yaml.Unmarshal([]byte(text), &out)
		return out, err
	}
	funcs["required"] = func(message string, value interface{}) (interface{}, error) {
		if value == nil || value == "" {
			return nil, fmt.Errorf("required: %s", message)
		}
		return value, nil
	}
	funcs["include"] = func(templateName string, data interface{}) (string, error) {
		var out bytes.Buffer
		err := root.ExecuteTemplate(&out, templateName, data)
		return out.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		if t, err = t.New("tpl").Parse(text); err != nil {
			return "", err
		}
		var out bytes.Buffer
		err = t.Execute(&out, data)
		return out.String(), err
	}
	root.Funcs(funcs)
	for _, rel := range templates {
		if _, err := root.New(name + "/" + rel).Parse(string(files[rel])); err != nil {
			return err
		}
	}

	for _, rel := range templates {
		base := filepath.Base(rel)
		if strings.HasPrefix(base, "_") {
			continue
		}
		data := map[string]interface{}{
			"Values": values,
			"Chart": map[string]interface{}{
				"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"],
			},
			"Release": map[string]interface{}{
				"Name": "tessera", "Namespace": "default", "Service": "Helm",
				"IsInstall": true, "IsUpgrade": false, "Revision": 1,
			},
			"Files":        files,
			"Template":     map[string]interface{}{"Name": name + "/" + rel, "BasePath": name + "/templates"},
			"Capabilities": map[string]interface{}{"KubeVersion": map[string]interface{}{"Version": "v1.24.0"}},
		}
		var out bytes.Buffer
		if err := root.ExecuteTemplate(&out, name+"/"+rel, data); err != nil {
			return err
		}
		if base == "NOTES.txt" || strings.TrimSpace(out.String()) == "" {
			continue
		}
		fmt.Printf("---\n# Source: %s/%s\n%s\n", name, rel, strings.TrimSpace(out.String()))
	}
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: render CHART_DIR [VALUES_FILE...]")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}
