//! Which part of the files this run takes: `--shard K/N`. The parts are contiguous and
//! together cover every file once, so that N runs share the work.

/// Part `index` (from 1) of `count` equal contiguous parts of the files.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// "K/N", 1 <= K <= N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("--shard takes K/N with 1 <= K <= N, e.g. 2/8; got {text:?}");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The positions `[start, end)` this shard takes among `total` files.
    pub fn range(&self, total: usize) -> (usize, usize) {
        let at = |k: usize| total * k / self.count;
        (at(self.index - 1), at(self.index))
    }

    /// This shard's part of the files: a function of the one list alone.
    pub fn part<'a, T>(&self, files: &'a [T]) -> &'a [T] {
        let (start, end) = self.range(files.len());
        &files[start..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_exactly() {
        for total in [0, 1, 7, 405, 1000] {
            for count in 1..=9 {
                let mut next = 0;
                for index in 1..=count {
                    let (start, end) = Shard { index, count }.range(total);
                    assert_eq!(start, next);
                    next = end;
                }
                assert_eq!(next, total);
            }
        }
        assert!(
            Shard::parse("0/3").is_err()
                && Shard::parse("4/3").is_err()
                && Shard::parse("x").is_err()
        );
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        let files: Vec<u32> = (0..7).collect();
        let parts: Vec<&[u32]> = (1..=3)
            .map(|index| Shard { index, count: 3 }.part(&files))
            .collect();
        assert_eq!(parts, [&[0, 1][..], &[2, 3], &[4, 5, 6]]);
    }
}
