{{- define "sedna.tokenSecret" -}}
{{- if .Values.channelToken.existingSecret -}}{{ .Values.channelToken.existingSecret }}{{- else -}}sedna-channel-token{{- end -}}
{{- end -}}

{{- /* GM: the secret every credential is derived from (docs/security.md). */ -}}
{{- define "sedna.tokenEnv" -}}
{{- if .Values.channelToken.enabled }}
- name: SEDNA_GM_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "sedna.tokenSecret" . }}
      key: {{ .Values.channelToken.secretKey }}
{{- else }}
- name: SEDNA_GM_INSECURE
  value: "true"
{{- end }}
{{- end -}}

{{- /* LC: its own node token, provisioned on each node (sedna gm node-token NODE > /var/lib/sedna/node-token). */ -}}
{{- define "sedna.nodeTokenEnv" -}}
{{- if .Values.channelToken.enabled }}
- name: SEDNA_CHANNEL_TOKEN_FILE
  value: /rootfs{{ .Values.lc.nodeTokenPath }}
{{- else }}
- name: LC_INSECURE
  value: "true"
{{- end }}
{{- end -}}
