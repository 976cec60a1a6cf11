package xjpgateway

import (
	"net/http"
	"strconv"

	"github.com/xiaojinpro/xjp-gateway/auth"
	"github.com/xiaojinpro/xjp-gateway/handlers"
	anthropicin "github.com/xiaojinpro/xjp-gateway/handlers/anthropic"
	openaiin "github.com/xiaojinpro/xjp-gateway/handlers/openai"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// serveModels answers GET /v1/models with the models the key may use, in
// the client's dialect.
func (g *Gateway) serveModels(w http.ResponseWriter, r *http.Request, anthropic bool) {
	key, err := g.authenticate(r)
	if err != nil {
		modelsDialect(anthropic).WriteError(w, err)
		return
	}
	if anthropic {
		anthropicin.WriteModels(w, g.modelNames(key), g.created)
		return
	}
	openaiin.WriteModels(w, g.modelNames(key), g.created)
}

// modelsDialect is the dialect the /v1/models endpoints answer in.
func modelsDialect(anthropic bool) handlers.Dialect {
	if anthropic {
		return anthropicin.Dialect{}
	}
	return openaiin.Dialect{}
}

// serveModel answers GET /v1/models/{id} in the client's dialect: the
// model when the key may use it, else 404, so a key cannot learn what
// others may use.
func (g *Gateway) serveModel(w http.ResponseWriter, r *http.Request, id string, anthropic bool) {
	d := modelsDialect(anthropic)
	key, err := g.authenticate(r)
	if err != nil {
		d.WriteError(w, err)
		return
	}
	m := g.routes.Lookup(id)
	if m == nil || !key.AllowsModel(m.Name) && !key.AllowsModel(id) {
		d.WriteError(w, &unified.Error{Kind: unified.KindNotFound, Param: "model", Code: "model_not_found",
			Message: "the model " + strconv.Quote(id) + " does not exist"})
		return
	}
	if anthropic {
		anthropicin.WriteModel(w, id, g.created)
		return
	}
	openaiin.WriteModel(w, id, g.created)
}

// modelNames lists the public models the key may use, sorted.
func (g *Gateway) modelNames(key *auth.Key) []string {
	names := make([]string, 0, len(g.routes.Models()))
	for _, m := range g.routes.Models() {
		if key.AllowsModel(m.Name) {
			names = append(names, m.Name)
		}
	}
	return names
}
