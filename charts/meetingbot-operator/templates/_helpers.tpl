{{/* This install's identity (--install-id): the value, else NAMESPACE/RELEASE. */}}
{{- define "meetingbot-operator.installId" -}}
{{- .Values.installId | default (printf "%s/%s" .Release.Namespace .Release.Name) -}}
{{- end }}

{{/* The chart's name, or nameOverride. */}}
{{- define "meetingbot-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name, at most 63 characters: fullnameOverride, or the
     release name followed by the chart's name unless it already holds it. */}}
{{- define "meetingbot-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "meetingbot-operator.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The operator's image: by digest when image.digest is set, else by tag
     (default: the chart's appVersion). */}}
{{- define "meetingbot-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the operator's pods; never change across upgrades. */}}
{{- define "meetingbot-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "meetingbot-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The recommended labels, on every object. */}}
{{- define "meetingbot-operator.labels" -}}
{{ include "meetingbot-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: meetingbot-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "meetingbot-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "meetingbot-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the API key, and its key: the rendered one when
     apiKey.value is set, else apiKey.existingSecret. */}}
{{- define "meetingbot-operator.apiKeySecret" -}}
{{- if .Values.apiKey.value -}}
{{- printf "%s-api-key" (include "meetingbot-operator.fullname" .) -}}
{{- else -}}
{{- required "set apiKey.existingSecret (a Secret holding the LemonSlice API key) or apiKey.value" .Values.apiKey.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "meetingbot-operator.apiKeySecretKey" -}}
{{- if .Values.apiKey.value -}}api-key{{- else -}}{{ .Values.apiKey.existingSecretKey }}{{- end -}}
{{- end -}}
