package etcdsim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Handler is the simulator's control API, for the bench:
//
//	GET  /stats                         counters (Stats)
//	GET  /cluster?ns=&name=             one cluster (ClusterInfo)
//	POST /sick?ns=&name=&mode=hang      make its members stop answering (mode= heals)
//	GET  /listed?since=<unix ns>        clusters whose member list was read since
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.Stats()) })
	mux.HandleFunc("GET /cluster", func(w http.ResponseWriter, r *http.Request) {
		info, ok := s.Cluster(r.FormValue("ns"), r.FormValue("name"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, info)
	})
	mux.HandleFunc("POST /sick", func(w http.ResponseWriter, r *http.Request) {
		if err := s.SetSick(r.FormValue("ns"), r.FormValue("name"), r.FormValue("mode")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("GET /listed", func(w http.ResponseWriter, r *http.Request) {
		ns, err := strconv.ParseInt(r.FormValue("since"), 10, 64)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, s.ListedSince(time.Unix(0, ns)))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
