{{/* The chart's name, or nameOverride. */}}
{{- define "quorum.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name: fullnameOverride, or the release name
when it already contains the chart's name, or both joined. Cluster-scoped
objects (ClusterRoles, their bindings) carry it too, so two releases in
different namespaces do not collide.
*/}}
{{- define "quorum.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "quorum.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "quorum.labels" -}}
helm.sh/chart: {{ include "quorum.chart" . }}
{{ include "quorum.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the operator's pods. */}}
{{- define "quorum.selectorLabels" -}}
app.kubernetes.io/name: {{ include "quorum.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller-manager
{{- end }}

{{- define "quorum.serviceAccountName" -}}
{{- include "quorum.fullname" . }}-controller-manager
{{- end }}

{{- define "quorum.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
A rule list from a file of files/rbac, copied there from config/rbac by
'make chart', so the chart grants exactly what the operator's markers and
the kustomize install grant.
*/}}
{{- define "quorum.rulesFrom" -}}
{{- $role := .root.Files.Get (printf "files/rbac/%s" .file) | fromYaml }}
{{- if not $role.rules }}
{{- fail (printf "files/rbac/%s has no rules: run 'make chart'" .file) }}
{{- end }}
{{- toYaml $role.rules }}
{{- end }}

{{/* The labels of a ClusterRole of files/rbac (aggregation labels). */}}
{{- define "quorum.labelsFrom" -}}
{{- $role := .root.Files.Get (printf "files/rbac/%s" .file) | fromYaml }}
{{- with $role.metadata.labels }}
{{- toYaml . }}
{{- end }}
{{- end }}
