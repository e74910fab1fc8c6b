{{/* Names, labels and the shared pod security settings. */}}

{{- define "rejoinder.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "<release>-rejoinder", or the release name alone when it already contains the chart name. */}}
{{- define "rejoinder.fullname" -}}
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

{{- define "rejoinder.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rejoinder.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rejoinder.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "rejoinder.labels" -}}
helm.sh/chart: {{ include "rejoinder.chart" . }}
{{ include "rejoinder.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: rejoinder
{{- end }}

{{- define "rejoinder.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "rejoinder.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference: a full reference in values is kept, a bare name goes under image.registry. */}}
{{- define "rejoinder.image" -}}
{{- $name := index .root.Values.image .key }}
{{- if or (contains "/" $name) (contains ":" $name) }}
{{- $name }}
{{- else }}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) $name (default .root.Chart.AppVersion .root.Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Pod-level security: the same settings the operator puts on every pod it creates. */}}
{{- define "rejoinder.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "rejoinder.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Namespaces whose RBAC is namespaced; empty means cluster-wide. */}}
{{- define "rejoinder.watchesAll" -}}
{{- if empty .Values.operator.watchNamespaces }}true{{ end }}
{{- end }}

{{/* Labels the operator puts on every model-server Service it creates (operator/names.py). */}}
{{- define "rejoinder.modelServerServiceLabels" -}}
app.kubernetes.io/component: server
app.kubernetes.io/managed-by: rejoinder-operator
{{- end }}
