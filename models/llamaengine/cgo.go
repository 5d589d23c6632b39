//go:build llamacpp

package llamaengine

/*
#include <stdio.h>

// Declared here rather than included: the definitions are linked in from
// github.com/ollama/ollama/llama's llama.cpp, whose headers live in that
// module. The signatures are llama.h's (llama.cpp as vendored by Ollama
// v0.17.4); the enum ggml_log_level argument is passed as an int.
struct llama_context;
void llama_free(struct llama_context * ctx);
typedef void (*edgecascade_log_fn)(int level, const char * text, void * user_data);
void llama_log_set(edgecascade_log_fn log_callback, void * user_data);

// quiet_log forwards llama.cpp's warnings and errors (ggml_log_level WARN = 3,
// ERROR = 4, and CONT = 5 lines that continue one of them) to stderr and
// drops its chatty info and debug output (model metadata on every load).
static int edgecascade_last_level = 0;
static void edgecascade_quiet_log(int level, const char * text, void * user_data) {
	(void)user_data;
	if (level != 5) edgecascade_last_level = level;
	if (edgecascade_last_level >= 3 && edgecascade_last_level <= 4) fputs(text, stderr);
}
static void edgecascade_set_quiet_log(void) { llama_log_set(edgecascade_quiet_log, NULL); }
*/
import "C"

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/ollama/ollama/llama"
)

// llama.Context has no Free method (Ollama's runner lives as long as its
// process), so Close frees the context through llama.cpp's own llama_free,
// reading the pointer from llama.Context's first field. contextLayout
// mirrors that struct; checkContextLayout refuses to run when the upstream
// struct no longer matches it.
type contextLayout struct {
	c          unsafe.Pointer
	numThreads int
}

func checkContextLayout() error {
	t := reflect.TypeOf(llama.Context{})
	ok := t.Size() == unsafe.Sizeof(contextLayout{}) && t.NumField() == 2 &&
		t.Field(0).Name == "c" && t.Field(0).Type.Kind() == reflect.Pointer && t.Field(0).Offset == 0
	if !ok {
		return fmt.Errorf("llamaengine: github.com/ollama/ollama/llama.Context changed layout (%d fields, %d bytes); update contextLayout", t.NumField(), t.Size())
	}
	return nil
}

// freeContext frees a llama.cpp context made by llama.NewContextWithModel.
func freeContext(lc *llama.Context) {
	p := (*contextLayout)(unsafe.Pointer(lc)).c
	if p != nil {
		C.llama_free((*C.struct_llama_context)(p))
		(*contextLayout)(unsafe.Pointer(lc)).c = nil
	}
}

// quietLogs keeps llama.cpp's warnings and errors on stderr and drops the rest.
func quietLogs() { C.edgecascade_set_quiet_log() }
