//! Which part of the files this run takes: `--shard K/N`, or the part a cluster's
//! scheduler gives it (a Slurm job array, a Kubernetes Indexed Job). The parts are
//! contiguous and together cover every file once, so that N runs share the work and
//! `mien-analyse merge` joins their CSVs into the whole run's.

/// Part `index` (from 1) of `count` equal contiguous parts of the files.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Part `index` of `count`, 1 <= index <= count.
    pub fn new(index: usize, count: usize) -> Option<Shard> {
        (1..=count)
            .contains(&index)
            .then_some(Shard { index, count })
    }

    /// "K/N", 1 <= K <= N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("--shard takes K/N with 1 <= K <= N, e.g. 2/8; got {text:?}");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        Shard::new(index, count).ok_or_else(bad)
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

/// The shard a scheduler gives this process through its environment (`var` reads a
/// variable), and a line saying where it comes from; None outside a job array.
///
/// - Slurm job arrays: `SLURM_ARRAY_TASK_ID` of `SLURM_ARRAY_TASK_COUNT` tasks, the
///   first being `SLURM_ARRAY_TASK_MIN` (1 when unset): `--array=1-N` or `--array=0-(N-1)`.
/// - Kubernetes Indexed Jobs: `JOB_COMPLETION_INDEX` (from 0), of `count` shards
///   (`--shard-count`) or else `MIEN_SHARD_COUNT`'s: the Job's `completions`.
pub fn from_environment(
    var: impl Fn(&str) -> Option<String>,
    count: Option<usize>,
) -> Result<Option<(Shard, String)>, String> {
    let number = |name: &str, text: &str| -> Result<usize, String> {
        text.trim()
            .parse()
            .map_err(|_| format!("{name}={text:?} is not a whole number"))
    };
    if let Some(text) = var("JOB_COMPLETION_INDEX") {
        let index = number("JOB_COMPLETION_INDEX", &text)?;
        let (count, from) = match (count, var("MIEN_SHARD_COUNT")) {
            (Some(n), _) => (n, format!("--shard-count {n}")),
            (None, Some(n)) => (
                number("MIEN_SHARD_COUNT", &n)?,
                format!("MIEN_SHARD_COUNT={n}"),
            ),
            (None, None) => {
                return Err(format!(
                    "JOB_COMPLETION_INDEX={index} (a Kubernetes Indexed Job) needs the number of \
                     shards, the Job's completions: give --shard-count N or set MIEN_SHARD_COUNT \
                     (or --shard K/N; --shard 1/1 analyses every file)"
                ))
            }
        };
        let shard = Shard::new(index + 1, count).ok_or_else(|| {
            format!("JOB_COMPLETION_INDEX={index} is not below {from}: the Job's completions must equal it")
        })?;
        return Ok(Some((
            shard,
            format!("from a Kubernetes Indexed Job: JOB_COMPLETION_INDEX={index}, {from}"),
        )));
    }
    if count.is_some() {
        return Err(
            "--shard-count goes with JOB_COMPLETION_INDEX (a Kubernetes Indexed Job), which is \
             not set: give --shard K/N instead"
                .into(),
        );
    }
    if let Some(text) = var("SLURM_ARRAY_TASK_ID") {
        let id = number("SLURM_ARRAY_TASK_ID", &text)?;
        let count = match var("SLURM_ARRAY_TASK_COUNT") {
            Some(n) => number("SLURM_ARRAY_TASK_COUNT", &n)?,
            None => {
                return Err(format!(
                "SLURM_ARRAY_TASK_ID={id} is set but not SLURM_ARRAY_TASK_COUNT: give --shard K/N"
            ))
            }
        };
        let min = match var("SLURM_ARRAY_TASK_MIN") {
            Some(n) => number("SLURM_ARRAY_TASK_MIN", &n)?,
            None => 1,
        };
        let shard = (id + 1)
            .checked_sub(min)
            .and_then(|index| Shard::new(index, count))
            .ok_or_else(|| {
                format!(
                    "Slurm array task {id} (first {min}, {count} tasks) is not one of tasks \
                     {min}..={}: give the array without a step or gaps (--array=1-{count}), or --shard K/N",
                    min + count.saturating_sub(1)
                )
            })?;
        let mut why = format!("from a Slurm job array: SLURM_ARRAY_TASK_ID={id}");
        if var("SLURM_ARRAY_TASK_MIN").is_some() {
            why += &format!(", SLURM_ARRAY_TASK_MIN={min}");
        }
        why += &format!(", SLURM_ARRAY_TASK_COUNT={count}");
        return Ok(Some((shard, why)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

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
            .map(|k| Shard { index: k, count: 3 }.part(&files))
            .collect();
        assert_eq!(parts, [&[0, 1][..], &[2, 3], &[4, 5, 6]]);
    }

    /// The shard from these variables and `--shard-count`.
    fn shard(vars: &[(&str, &str)], count: Option<usize>) -> Result<Option<Shard>, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        from_environment(|name| vars.get(name).cloned(), count).map(|s| s.map(|(s, _)| s))
    }

    #[test]
    fn shards_from_slurm_job_arrays() {
        let task = |id, count| Ok(Some(Shard { index: id, count }));
        assert_eq!(shard(&[], None), Ok(None));
        assert_eq!(
            shard(
                &[
                    ("SLURM_ARRAY_TASK_ID", "2"),
                    ("SLURM_ARRAY_TASK_COUNT", "3")
                ],
                None
            ),
            task(2, 3)
        );
        // --array=0-2: ids from 0.
        for (id, index) in [("0", 1), ("2", 3)] {
            let vars = [
                ("SLURM_ARRAY_TASK_ID", id),
                ("SLURM_ARRAY_TASK_MIN", "0"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
            ];
            assert_eq!(shard(&vars, None), task(index, 3));
        }
        // --array=5-7.
        let vars = [
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_MIN", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert_eq!(shard(&vars, None), task(3, 3));
        // --array=1-9:4 (tasks 1, 5, 9): not contiguous, refused rather than misread.
        let vars = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert!(shard(&vars, None).unwrap_err().contains("without a step"));
        assert!(shard(&[("SLURM_ARRAY_TASK_ID", "1")], None).is_err());
        assert!(shard(
            &[
                ("SLURM_ARRAY_TASK_ID", "x"),
                ("SLURM_ARRAY_TASK_COUNT", "3")
            ],
            None
        )
        .is_err());
    }

    #[test]
    fn shards_from_kubernetes_indexed_jobs() {
        let index = [("JOB_COMPLETION_INDEX", "0")];
        assert_eq!(
            shard(&index, Some(4)),
            Ok(Some(Shard { index: 1, count: 4 }))
        );
        let vars = [("JOB_COMPLETION_INDEX", "2"), ("MIEN_SHARD_COUNT", "3")];
        assert_eq!(shard(&vars, None), Ok(Some(Shard { index: 3, count: 3 })));
        assert_eq!(
            shard(&vars, Some(5)),
            Ok(Some(Shard { index: 3, count: 5 })),
            "--shard-count first"
        );
        assert!(shard(&index, None)
            .unwrap_err()
            .contains("MIEN_SHARD_COUNT"));
        assert!(shard(
            &[("JOB_COMPLETION_INDEX", "3"), ("MIEN_SHARD_COUNT", "3")],
            None
        )
        .is_err());
        assert!(shard(&[], Some(3))
            .unwrap_err()
            .contains("JOB_COMPLETION_INDEX"));
        // MIEN_SHARD_COUNT alone (say, set in a profile) is no shard.
        assert_eq!(shard(&[("MIEN_SHARD_COUNT", "3")], None), Ok(None));
    }
}
