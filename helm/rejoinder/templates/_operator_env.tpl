{{/* The operator's settings, as the environment variables operator/settings.py reads. */}}
{{- define "rejoinder.operatorEnv" -}}
- name: REJOINDER_TRAINER_IMAGE
  value: {{ include "rejoinder.image" (dict "root" . "key" "trainer") | quote }}
- name: REJOINDER_MODEL_SERVER_IMAGE
  value: {{ include "rejoinder.image" (dict "root" . "key" "modelServer") | quote }}
- name: REJOINDER_WATCH_NAMESPACES
  value: {{ join "," .Values.operator.watchNamespaces | quote }}
- name: REJOINDER_PROMETHEUS_URL
  value: {{ .Values.operator.prometheusUrl | quote }}
- name: REJOINDER_METRICS_URL_TEMPLATE
  value: {{ .Values.operator.modelServerMetricsUrl | quote }}
- name: REJOINDER_RUN_AS_USER
  value: {{ .Values.operator.workloadRunAsUser | quote }}
- name: REJOINDER_RESYNC_SECONDS
  value: {{ .Values.operator.resyncSeconds | quote }}
- name: REJOINDER_AUTOSCALE_SECONDS
  value: {{ .Values.operator.autoscaleSeconds | quote }}
- name: REJOINDER_HEALTH_PORT
  value: {{ .Values.operator.healthPort | quote }}
- name: REJOINDER_METRICS_PORT
  value: {{ .Values.operator.metricsPort | quote }}
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}
