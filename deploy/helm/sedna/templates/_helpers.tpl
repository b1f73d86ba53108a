{{- define "sedna.tokenSecret" -}}
{{- if .Values.channelToken.existingSecret -}}{{ .Values.channelToken.existingSecret }}{{- else -}}sedna-channel-token{{- end -}}
{{- end -}}

{{- define "sedna.tokenEnv" -}}
{{- if .Values.channelToken.enabled }}
- name: SEDNA_CHANNEL_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "sedna.tokenSecret" . }}
      key: {{ .Values.channelToken.secretKey }}
{{- end }}
{{- end -}}
