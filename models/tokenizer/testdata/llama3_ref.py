# Makes llama3_ids.json: Llama 3 token ids from a tiktoken-style encoder that
# shares no code with the Go package (Python's regex module and the tiktoken
# ranks file that github.com/daulet/tokenizers ships as test data).
#   python3 llama3_ref.py $(go env GOMODCACHE)/github.com/daulet/tokenizers@v1.24.0/test/data texts.json
# texts.json is a JSON list of strings; the ids are written to stdout.
import base64, json, sys, regex
D = sys.argv[1]
ranks = {}
for line in open(D + '/Meta-Llama-3-8B-Instruct.model', 'rb'):
    tok, r = line.split()
    ranks[base64.b64decode(tok)] = int(r)
pat = regex.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
def bpe(piece):
    if piece in ranks: return [ranks[piece]]
    parts = [bytes([b]) for b in piece]
    while True:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i+1])
            if r is not None and (best is None or r < best[0]): best = (r, i)
        if best is None: break
        i = best[1]; parts[i:i+2] = [parts[i] + parts[i+1]]
    return [ranks[p] for p in parts]
def encode(text):
    out = []
    for m in pat.finditer(text):
        out += bpe(m.group().encode('utf-8'))
    return out
texts = json.load(open(sys.argv[2]))
json.dump([encode(t) for t in texts], sys.stdout)
