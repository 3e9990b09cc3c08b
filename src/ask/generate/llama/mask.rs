//! Exact grammar masking without handing llama.cpp the whole vocabulary.
//!
//! llama.cpp's grammar sampler decodes and checks every candidate it is given, so masking a
//! 32k–150k vocabulary costs milliseconds per token. Three exact shortcuts cut that down:
//!
//! - **The best few first.** The 64 tokens with the highest logits are checked directly; when
//!   enough of them are allowed (a trained model's choice nearly always is), that is all.
//! - **Prefix groups.** A token whose first character the grammar rejects is rejected whatever
//!   follows, and likewise for its first two characters. So the single-character tokens
//!   (and two-character tokens) are checked first, as stand-ins for every token that starts with
//!   them, and only tokens whose stand-ins passed go to the full check.
//! - **Best first.** Sampling only ever looks at the `need` best allowed tokens (1 for greedy,
//!   `top_k` for top-k), so the remaining candidates are checked in windows of falling logit
//!   until `need` allowed tokens are found; every token not checked has a lower logit than
//!   those found, so the result equals masking everything first.
//!
//! Both are skipped while the text so far ends inside a UTF-8 character, because llama.cpp then
//! decodes the next token's first bytes as the rest of that character.

use std::collections::HashMap;

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;

/// The best tokens checked before any prefix work: a trained model's choice is usually there.
const FIRST_WINDOW: usize = 64;
/// Later windows (in candidates) of the best-first search; the last one takes the rest.
const WINDOWS: [usize; 2] = [1024, 8192];
/// Tokens a stand-in must speak for (itself included) to be checked as one.
const MIN_GROUP: u32 = 4;

/// Per-vocabulary stand-ins: for every token, the tokens spelling its first one and two
/// characters, if the vocabulary has them.
pub struct Prefixes {
    /// Token ids that stand in for a one-character prefix, each once.
    singles: Vec<i32>,
    /// Token ids that stand in for a two-character prefix, with their own one-character stand-in.
    pairs: Vec<(i32, Option<i32>)>,
    /// For each token: (one-character stand-in, two-character stand-in).
    of: Vec<(Option<i32>, Option<i32>)>,
    /// Tokens that are always candidates: end of generation (the grammar decides by its state).
    always: Vec<i32>,
    /// Ordinary tokens: neither end of generation nor always rejected (empty pieces).
    plain: Vec<bool>,
}

/// What the masking did at one step (for the benchmark's statistics).
#[derive(Debug, Default, Clone, Copy)]
pub struct MaskStats {
    /// Tokens handed to llama.cpp's grammar check in total.
    pub checked: usize,
}

fn first_chars(piece: &[u8]) -> (Option<&str>, Option<&str>) {
    let s = match std::str::from_utf8(piece) {
        Ok(s) => s,
        Err(e) => match std::str::from_utf8(&piece[..e.valid_up_to()]) {
            Ok(s) => s,
            Err(_) => return (None, None),
        },
    };
    let mut idx = s.char_indices().map(|(i, _)| i).skip(1);
    let one = idx.next().unwrap_or(s.len());
    let two = idx.next().unwrap_or(s.len());
    let c1 = (one > 0).then(|| &s[..one]);
    let c2 = (two > one).then(|| &s[..two]);
    (c1, c2)
}

impl Prefixes {
    /// Indexes the model's vocabulary by the pieces llama.cpp's grammar sees (special = true).
    pub fn new(model: &LlamaModel) -> Prefixes {
        let vocab = model.vocab();
        let n = vocab.n_tokens().max(0) as usize;
        let pieces: Vec<Vec<u8>> = (0..n as i32)
            .map(|i| vocab.token_to_piece(LlamaToken(i), true, None))
            .collect();
        let mut by_text: HashMap<&[u8], i32> = HashMap::new();
        for (i, p) in pieces.iter().enumerate() {
            by_text.entry(p.as_slice()).or_insert(i as i32);
        }
        let mut of = Vec::with_capacity(n);
        let mut always = Vec::new();
        let mut plain = vec![false; n];
        let mut count = vec![0u32; n];
        for (i, p) in pieces.iter().enumerate() {
            if vocab.is_eog(LlamaToken(i as i32)) {
                always.push(i as i32);
                of.push((None, None));
                continue;
            }
            if p.is_empty() || p[0] == 0 {
                of.push((None, None));
                continue;
            }
            plain[i] = true;
            let (c1, c2) = first_chars(p);
            let s1 = c1.and_then(|c| by_text.get(c.as_bytes()).copied());
            let s2 = c2.and_then(|c| by_text.get(c.as_bytes()).copied());
            for s in [s1, s2].into_iter().flatten() {
                count[s as usize] += 1;
            }
            of.push((s1, s2));
        }
        // A stand-in pays off only when it speaks for several tokens.
        let keep = |s: Option<i32>| s.filter(|&s| count[s as usize] >= MIN_GROUP);
        let mut singles = Vec::new();
        let mut pairs = Vec::new();
        let mut seen = vec![false; n];
        for o in of.iter_mut() {
            *o = (keep(o.0), keep(o.1));
            if let Some(s) = o.0 {
                if !std::mem::replace(&mut seen[s as usize], true) {
                    singles.push(s);
                }
            }
            if let Some(s) = o.1 {
                if !std::mem::replace(&mut seen[s as usize], true) {
                    pairs.push((s, o.0));
                }
            }
        }
        Prefixes {
            singles,
            pairs,
            of,
            always,
            plain,
        }
    }
}

/// Reusable buffers for one engine.
#[derive(Default)]
pub struct Masker {
    pass: Vec<bool>,
    pass2: Vec<bool>,
    done: Vec<bool>,
    cands: Vec<LlamaTokenData>,
}

/// Whether `text` ends inside a multi-byte UTF-8 character.
pub fn ends_mid_char(text: &[u8]) -> bool {
    let tail = &text[text.len().saturating_sub(4)..];
    match tail.iter().rposition(|b| b & 0xC0 != 0x80) {
        None => !tail.is_empty(),
        Some(i) => {
            let lead = tail[i];
            let want = match lead {
                0x00..=0x7F => 1,
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            tail.len() - i < want
        }
    }
}

/// The `k` tokens of `ids` with the highest logits (all of them when there are fewer), in one
/// pass: a token below the k-th best so far costs one comparison.
fn best(ids: impl Iterator<Item = i32>, logits: &[f32], k: usize) -> Vec<i32> {
    let mut top: Vec<(f32, i32)> = Vec::with_capacity(k + 1);
    let mut floor = f32::NEG_INFINITY;
    for t in ids {
        let l = logits[t as usize];
        if top.len() < k {
            top.push((l, t));
            if top.len() == k {
                floor = top.iter().map(|x| x.0).fold(f32::INFINITY, f32::min);
            }
        } else if l > floor {
            if let Some(m) = top.iter().position(|x| x.0 == floor) {
                top[m] = (l, t);
            }
            floor = top.iter().map(|x| x.0).fold(f32::INFINITY, f32::min);
        }
    }
    top.into_iter().map(|(_, t)| t).collect()
}

fn check(
    grammar: &mut LlamaSampler,
    data: Vec<LlamaTokenData>,
    stats: &mut MaskStats,
) -> Vec<LlamaTokenData> {
    stats.checked += data.len();
    let mut arr = LlamaTokenDataArray::new(data, false);
    grammar.apply(&mut arr);
    arr.data.retain(|d| d.logit() != f32::NEG_INFINITY);
    arr.data
}

impl Masker {
    /// The best `need` tokens the grammar allows (all of them when `need` is `None`), with their
    /// logits; empty when the grammar allows nothing. `exact_prefixes` is false while the text
    /// ends inside a character.
    pub fn allowed(
        &mut self,
        grammar: &mut LlamaSampler,
        prefixes: &Prefixes,
        logits: &[f32],
        need: Option<usize>,
        exact_prefixes: bool,
        stats: &mut MaskStats,
    ) -> Vec<LlamaTokenData> {
        let n = logits.len().min(prefixes.of.len());
        let data = |t: i32| LlamaTokenData::new(LlamaToken(t), logits[t as usize], 0.0);
        let desc = |a: &LlamaTokenData, b: &LlamaTokenData| b.logit().total_cmp(&a.logit());
        // The best few first, each checked directly (found in one pass over the logits, without
        // building the whole candidate list, which a trained model's choice rarely needs).
        let mut found = Vec::new();
        self.done.clear();
        if let Some(need) = need {
            let head = best(
                (0..n)
                    .filter(|&i| prefixes.plain[i])
                    .map(|i| i as i32)
                    .chain(
                        prefixes
                            .always
                            .iter()
                            .copied()
                            .filter(|&t| (t as usize) < n),
                    ),
                logits,
                FIRST_WINDOW,
            );
            let whole = head.len() < FIRST_WINDOW;
            self.done.resize(n, false);
            for &t in &head {
                self.done[t as usize] = true;
            }
            found = check(grammar, head.into_iter().map(data).collect(), stats);
            if found.len() >= need || whole {
                return found;
            }
        }
        self.cands.clear();
        let done = &self.done;
        let skip = |i: usize| done.get(i).copied().unwrap_or(false);
        self.cands.extend(
            (0..n)
                .filter(|&i| prefixes.plain[i] && !skip(i))
                .map(|i| data(i as i32)),
        );
        self.cands.extend(
            prefixes
                .always
                .iter()
                .filter(|&&t| (t as usize) < n && !skip(t as usize))
                .map(|&t| data(t)),
        );
        if exact_prefixes {
            self.pass.clear();
            self.pass.resize(n, false);
            let singles: Vec<_> = prefixes
                .singles
                .iter()
                .filter(|&&t| (t as usize) < n)
                .map(|&t| data(t))
                .collect();
            for d in check(grammar, singles, stats) {
                self.pass[d.id().0 as usize] = true;
            }
            let pairs: Vec<_> = prefixes
                .pairs
                .iter()
                .filter(|(t, s1)| (*t as usize) < n && s1.is_none_or(|s| self.pass[s as usize]))
                .map(|&(t, _)| data(t))
                .collect();
            // A second table: a token can stand in for one prefix and be checked for another.
            self.pass2.clear();
            self.pass2.resize(n, false);
            for d in check(grammar, pairs, stats) {
                self.pass2[d.id().0 as usize] = true;
            }
            let (pass, pass2) = (&self.pass, &self.pass2);
            self.cands.retain(|d| {
                let (s1, s2) = prefixes.of[d.id().0 as usize];
                s1.is_none_or(|s| pass[s as usize]) && s2.is_none_or(|s| pass2[s as usize])
            });
        }
        let Some(need) = need else {
            return check(grammar, std::mem::take(&mut self.cands), stats);
        };
        let mut rest: &mut [LlamaTokenData] = &mut self.cands;
        for w in WINDOWS.iter().copied().chain(std::iter::once(usize::MAX)) {
            if rest.is_empty() {
                break;
            }
            let w = w.min(rest.len());
            if w < rest.len() {
                rest.select_nth_unstable_by(w, desc);
            }
            let (head, tail) = rest.split_at_mut(w);
            found.extend(check(grammar, head.to_vec(), stats));
            if found.len() >= need {
                break;
            }
            rest = tail;
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::best;

    #[test]
    fn best_finds_the_highest_logits_in_one_pass() {
        let logits = [0.5, 3.0, -1.0, 2.0, f32::NEG_INFINITY, 2.0, 7.0];
        let mut top = best(0..7, &logits, 3);
        top.sort();
        // 7.0, 3.0 and one of the two 2.0s.
        assert!(top == vec![1, 3, 6] || top == vec![1, 5, 6], "{top:?}");
        let mut all = best([4, 0, 2].into_iter(), &logits, 5);
        all.sort();
        assert_eq!(all, vec![0, 2, 4], "fewer than k: all of them");
        assert!(best(0..7, &logits, 0).is_empty());
    }
}
