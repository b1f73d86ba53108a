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

{{/* repository:tag of one image; an empty tag is the chart's appVersion. Call with (list $ "gm"). */}}
{{- define "sedna.image" -}}
{{- $root := index . 0 -}}
{{- $image := index $root.Values.image (index . 1) -}}
{{- $image.repository }}:{{ $image.tag | default $root.Chart.AppVersion }}
{{- end -}}

{{- define "sedna.labels" -}}
app.kubernetes.io/name: sedna
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end -}}

{{- define "sedna.kbServer" -}}
{{- if .Values.gm.knowledgeBaseServer -}}{{ .Values.gm.knowledgeBaseServer }}{{- else -}}http://kb.{{ .Release.Namespace }}:{{ .Values.kb.port }}{{- end -}}
{{- end -}}

{{/* affinity of a daemon: values' affinity; its nodeAffinity (if any) replaces the edge rule given as
     (list $values $operator $enabled): operator Exists keeps to edge nodes, DoesNotExist keeps off them. */}}
{{- define "sedna.affinity" -}}
{{- $values := index . 0 -}}
{{- $operator := index . 1 -}}
{{- $enabled := index . 2 -}}
{{- $affinity := deepCopy ($values.affinity | default dict) -}}
{{- if and $enabled (not (hasKey $affinity "nodeAffinity")) -}}
{{- $term := dict "matchExpressions" (list (dict "key" "node-role.kubernetes.io/edge" "operator" $operator)) -}}
{{- $_ := set $affinity "nodeAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (dict "nodeSelectorTerms" (list $term))) -}}
{{- end -}}
{{- if $affinity }}
{{- toYaml $affinity }}
{{- end -}}
{{- end -}}
