package gemini

import (
	"mime"
	"net/url"
	"path"
	"strings"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// mediaPart writes an image, audio, video or file part: inline data as
// inlineData, a gs:// or http(s) address as fileData. Gemini needs a MIME
// type for both; for an address it is guessed from the file extension,
// or else from the kind of part.
func mediaPart(p unified.Part) (part, *unified.Error) {
	if p.Data != "" {
		if p.MIMEType == "" {
			return part{}, unified.InvalidParam("", "inline media needs a MIME type")
		}
		return part{InlineData: &blob{MIMEType: p.MIMEType, Data: p.Data}}, nil
	}
	if p.URL == "" {
		return part{}, unified.InvalidParam("", "a media part needs a URL or inline data")
	}
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "gs" && u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return part{}, unified.InvalidParam("", "media URL %q is not a gs://, https:// or http:// address", p.URL)
	}
	mt := p.MIMEType
	if mt == "" {
		mt = mimeFromPath(u.Path)
	}
	if mt == "" {
		mt = defaultMIME(p.Type)
	}
	return part{FileData: &fileData{MIMEType: mt, FileURI: p.URL}}, nil
}

// mediaTypes are the extensions of the formats Gemini reads, for systems
// whose MIME tables lack them.
var mediaTypes = map[string]string{
	".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
	".gif": "image/gif", ".heic": "image/heic", ".heif": "image/heif",
	".pdf": "application/pdf", ".txt": "text/plain",
	".mp3": "audio/mpeg", ".wav": "audio/wav", ".flac": "audio/flac", ".aac": "audio/aac",
	".ogg": "audio/ogg", ".m4a": "audio/mp4", ".opus": "audio/opus",
	".mp4": "video/mp4", ".mpeg": "video/mpeg", ".mpg": "video/mpeg", ".mov": "video/quicktime",
	".avi": "video/x-msvideo", ".webm": "video/webm", ".wmv": "video/x-ms-wmv", ".flv": "video/x-flv",
	".3gp": "video/3gpp",
}

func mimeFromPath(p string) string {
	ext := strings.ToLower(path.Ext(p))
	if ext == "" {
		return ""
	}
	if mt, ok := mediaTypes[ext]; ok {
		return mt
	}
	if mt := mime.TypeByExtension(ext); mt != "" {
		mt, _, _ = strings.Cut(mt, ";")
		return mt
	}
	return ""
}

// defaultMIME is a MIME type for an address without a telling extension.
func defaultMIME(t unified.PartType) string {
	switch t {
	case unified.PartImage:
		return "image/jpeg"
	case unified.PartAudio:
		return "audio/mpeg"
	case unified.PartVideo:
		return "video/mp4" // also what Gemini expects for YouTube links
	default:
		return "application/pdf"
	}
}
