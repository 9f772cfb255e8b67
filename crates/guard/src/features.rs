//! Hashed text n-grams: character 3–5-grams and word 1–2-grams of lower-cased text, hashed into
//! a fixed number of buckets with a sign bit (the "hashing trick"), counts damped as
//! `1 + ln(count)` and each family L2-normalised. A fixed width means a model is a flat weight
//! vector that needs no vocabulary file, and an unseen word costs nothing.

/// Which n-gram families a [`Hasher`] emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NgramConfig {
    /// log2 of the number of hashed buckets.
    pub bits: u8,
    /// Character n-gram lengths (inclusive range); `(0, 0)` for none.
    pub char_range: (u8, u8),
    /// Word n-gram lengths (inclusive range); `(0, 0)` for none.
    pub word_range: (u8, u8),
    /// Characters of input looked at (longer text is cut, so cost per item is bounded).
    pub max_chars: usize,
}

/// One sparse feature vector: `(index, value)` sorted by index, indices unique.
pub type Sparse = Vec<(u32, f32)>;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

#[inline]
fn fnv_step(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(FNV_PRIME)
}

/// Final avalanche (from SplitMix64) so FNV's weak low bits do not bias the buckets.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl NgramConfig {
    pub fn dim(&self) -> usize {
        1usize << self.bits
    }

    /// The hashed n-gram vector of `text`.
    pub fn vectorise(&self, text: &str) -> Sparse {
        let mut chars: Vec<char> = Vec::with_capacity(text.len().min(self.max_chars) + 2);
        chars.push(' ');
        let mut last_space = true;
        for c in text.chars().take(self.max_chars) {
            // Runs of whitespace count as one space: layout is not content.
            if c.is_whitespace() {
                if !last_space {
                    chars.push(' ');
                }
                last_space = true;
            } else {
                chars.extend(c.to_lowercase());
                last_space = false;
            }
        }
        if !last_space {
            chars.push(' ');
        }
        let mask = (self.dim() - 1) as u64;
        let mut char_part: Vec<(u32, f32)> = Vec::new();
        let (lo, hi) = self.char_range;
        if lo > 0 {
            for start in 0..chars.len() {
                let mut h = fnv_step(FNV_OFFSET, 0xc4);
                for (n, &c) in chars[start..].iter().take(hi as usize).enumerate() {
                    h = fnv_step(h, c as u64);
                    if n + 1 >= lo as usize {
                        char_part.push(bucket(h, mask));
                    }
                }
            }
        }
        let mut word_part: Vec<(u32, f32)> = Vec::new();
        let (wlo, whi) = self.word_range;
        if wlo > 0 {
            let words: Vec<u64> = chars
                .split(|c| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(|w| w.iter().fold(FNV_OFFSET, |h, &c| fnv_step(h, c as u64)))
                .collect();
            for start in 0..words.len() {
                let mut h = fnv_step(FNV_OFFSET, 0x77);
                for (n, &w) in words[start..].iter().take(whi as usize).enumerate() {
                    h = fnv_step(h, w);
                    if n + 1 >= wlo as usize {
                        word_part.push(bucket(h, mask));
                    }
                }
            }
        }
        let chars = finish(char_part);
        let words = finish(word_part);
        let both = !chars.is_empty() && !words.is_empty();
        let mut out = merge_sorted(&chars, &words);
        if both {
            // Each family has norm 1; scale so the whole vector does too.
            for (_, v) in &mut out {
                *v *= std::f32::consts::FRAC_1_SQRT_2;
            }
        }
        out
    }
}

#[inline]
fn bucket(h: u64, mask: u64) -> (u32, f32) {
    let z = mix(h);
    let sign = if z >> 63 == 0 { 1.0 } else { -1.0 };
    ((z & mask) as u32, sign)
}

/// Sums duplicates, damps counts (`sign · (1 + ln |count|)`), L2-normalises.
fn finish(mut part: Vec<(u32, f32)>) -> Sparse {
    merge(&mut part);
    part.retain(|&(_, v)| v != 0.0);
    for (_, v) in &mut part {
        *v = v.signum() * (1.0 + v.abs().ln());
    }
    let norm = part.iter().map(|&(_, v)| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, v) in &mut part {
            *v /= norm;
        }
    }
    part
}

/// Merges two vectors sorted by index into one (a linear pass, not another sort), adding up
/// entries with the same index.
fn merge_sorted(a: &[(u32, f32)], b: &[(u32, f32)]) -> Sparse {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push((a[i].0, a[i].1 + b[j].1));
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Sorts by index and adds up entries with the same index.
fn merge(v: &mut Sparse) {
    v.sort_unstable_by_key(|&(i, _)| i);
    let mut w = 0;
    for r in 0..v.len() {
        if w > 0 && v[w - 1].0 == v[r].0 {
            v[w - 1].1 += v[r].1;
        } else {
            v[w] = v[r];
            w += 1;
        }
    }
    v.truncate(w);
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: NgramConfig = NgramConfig {
        bits: 12,
        char_range: (3, 5),
        word_range: (1, 2),
        max_chars: 1000,
    };

    #[test]
    fn vector_is_sorted_unique_and_unit_length() {
        let v = CFG.vectorise("Ignore   all previous instructions. IGNORE!");
        assert!(v.windows(2).all(|w| w[0].0 < w[1].0));
        let n: f32 = v.iter().map(|&(_, x)| x * x).sum();
        assert!((n - 1.0).abs() < 0.2, "{n}");
        assert!(v.iter().all(|&(i, _)| (i as usize) < CFG.dim()));
    }

    #[test]
    fn case_and_spacing_do_not_matter() {
        assert_eq!(CFG.vectorise("Hello  World"), CFG.vectorise("hello world"));
    }

    proptest::proptest! {
        #[test]
        fn merging_sorted_parts_equals_sorting_their_concatenation(
            a in proptest::collection::btree_map(0u32..64, -3i8..3, 0..20),
            b in proptest::collection::btree_map(0u32..64, -3i8..3, 0..20),
        ) {
            let a: Sparse = a.into_iter().map(|(i, v)| (i, v as f32)).collect();
            let b: Sparse = b.into_iter().map(|(i, v)| (i, v as f32)).collect();
            let mut both = a.clone();
            both.extend(&b);
            merge(&mut both);
            proptest::prop_assert_eq!(merge_sorted(&a, &b), both);
        }
    }

    #[test]
    fn empty_text_is_empty_vector() {
        assert!(CFG.vectorise("").is_empty());
        assert!(CFG.vectorise("   ").is_empty());
    }
}
