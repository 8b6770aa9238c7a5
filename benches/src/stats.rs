//! The arithmetic of the report: ratios to a baseline, medians and ranges over interleaved
//! rounds, and whether a target is met.
//!
//! It lives in the library (not the report binary) so that `cargo test -p oidc-bench` checks
//! it. Nothing here returns NaN or panics on odd input: a figure that cannot be computed is a
//! [`StatsError`], which the report prints as "not measured (why)" instead of a number.

use std::fmt;

/// Why a figure could not be computed from what the run measured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    /// No value at all (the measurement did not run, or made no rounds).
    #[error("no measurement")]
    Empty,
    /// A value is NaN or infinite (a division by a zero duration upstream, say).
    #[error("a measurement is not a finite number")]
    NotFinite,
    /// The baseline is zero or negative, so a ratio to it means nothing.
    #[error("the baseline is not positive")]
    NonPositiveBaseline,
    /// Figures and baselines that should pair up round by round do not.
    #[error("{figures} figures for {baselines} baselines")]
    Unpaired {
        /// How many figures.
        figures: usize,
        /// How many baselines.
        baselines: usize,
    },
}

fn finite(x: f64) -> Result<f64, StatsError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(StatsError::NotFinite)
    }
}

/// `figure / baseline`, for a finite figure and a positive, finite baseline.
///
/// # Errors
/// [`StatsError::NotFinite`] or [`StatsError::NonPositiveBaseline`].
pub fn ratio(figure: f64, baseline: f64) -> Result<f64, StatsError> {
    let (figure, baseline) = (finite(figure)?, finite(baseline)?);
    if baseline <= 0.0 {
        return Err(StatsError::NonPositiveBaseline);
    }
    Ok(figure / baseline)
}

/// The round-by-round ratios of `figures` to `baselines` (each figure divided by the baseline
/// measured next to it, in the same round).
///
/// # Errors
/// When the two lists differ in length, or any [`ratio`] fails.
pub fn paired_ratios(figures: &[f64], baselines: &[f64]) -> Result<Vec<f64>, StatsError> {
    if figures.len() != baselines.len() {
        return Err(StatsError::Unpaired {
            figures: figures.len(),
            baselines: baselines.len(),
        });
    }
    figures
        .iter()
        .zip(baselines)
        .map(|(&f, &b)| ratio(f, b))
        .collect()
}

/// The round-by-round differences `figures - baselines`.
///
/// # Errors
/// When the two lists differ in length, or a value is not finite.
pub fn paired_differences(figures: &[f64], baselines: &[f64]) -> Result<Vec<f64>, StatsError> {
    if figures.len() != baselines.len() {
        return Err(StatsError::Unpaired {
            figures: figures.len(),
            baselines: baselines.len(),
        });
    }
    figures
        .iter()
        .zip(baselines)
        .map(|(&f, &b)| Ok(finite(f)? - finite(b)?))
        .collect()
}

/// The median of a set of values, with their minimum and maximum: what the report gives for a
/// figure measured over several rounds, judged on the median so that one disturbed round does
/// not flip a target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The median (the mean of the two middle values for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// How many values.
    pub count: usize,
}

impl Spread {
    /// The spread of `values`.
    ///
    /// # Errors
    /// [`StatsError::Empty`] for no value, [`StatsError::NotFinite`] for a NaN or infinity.
    pub fn of(values: &[f64]) -> Result<Spread, StatsError> {
        let mut sorted = values
            .iter()
            .map(|&v| finite(v))
            .collect::<Result<Vec<f64>, _>>()?;
        if sorted.is_empty() {
            return Err(StatsError::Empty);
        }
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Ok(Spread {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            count: n,
        })
    }

    /// `0.97x (0.93-1.01)`: the median ratio and its range.
    pub fn ratio_text(&self) -> String {
        if self.count == 1 {
            format!("{:.2}x (1 round)", self.median)
        } else {
            format!("{:.2}x ({:.2}-{:.2})", self.median, self.min, self.max)
        }
    }
}

/// The value `p` (0 to 100) of `values` by the nearest-rank method (the smallest value with at
/// least `p` percent of the values at or below it).
///
/// # Errors
/// [`StatsError::Empty`] for no value, [`StatsError::NotFinite`] for a NaN or infinity in the
/// values or in `p`.
pub fn percentile(values: &[f64], p: f64) -> Result<f64, StatsError> {
    let p = finite(p)?.clamp(0.0, 100.0);
    let mut sorted = values
        .iter()
        .map(|&v| finite(v))
        .collect::<Result<Vec<f64>, _>>()?;
    if sorted.is_empty() {
        return Err(StatsError::Empty);
    }
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Ok(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Which side of a threshold a figure must stay on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// Lower is better: met when the figure is at most this.
    AtMost(f64),
    /// Higher is better: met when the figure is at least this.
    AtLeast(f64),
}

impl Bound {
    /// Whether `value` satisfies the bound (a non-finite value never does).
    pub fn holds(self, value: f64) -> bool {
        value.is_finite()
            && match self {
                Bound::AtMost(limit) => value <= limit,
                Bound::AtLeast(limit) => value >= limit,
            }
    }
}

/// A target of issue 19: a bound on a figure, and how the figure is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The bound.
    pub bound: Bound,
    /// The unit after the number, as printed: `x` for ratios, ` µs`, ` ms`.
    pub unit: &'static str,
    /// What the figure is relative to, printed after the bound (`of bare`), if anything.
    pub of: &'static str,
}

impl Target {
    /// A target on a ratio (`x`).
    pub fn ratio(bound: Bound, of: &'static str) -> Target {
        Target {
            bound,
            unit: "x",
            of,
        }
    }

    /// The status of the figure `measured` (a median, for a figure over rounds).
    pub fn judge(&self, measured: Result<f64, StatsError>) -> Status {
        match measured {
            Ok(v) if self.bound.holds(v) => Status::Met,
            Ok(v) if v.is_finite() => Status::Missed,
            Ok(_) => Status::NotMeasured(StatsError::NotFinite.to_string()),
            Err(e) => Status::NotMeasured(e.to_string()),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sign, limit) = match self.bound {
            Bound::AtMost(l) => ("≤", l),
            Bound::AtLeast(l) => ("≥", l),
        };
        write!(f, "{sign} {limit}{}", self.unit)?;
        if !self.of.is_empty() {
            write!(f, " {}", self.of)?;
        }
        Ok(())
    }
}

/// Whether a target is met by this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The figure (the median, over rounds) satisfies the target.
    Met,
    /// It does not.
    Missed,
    /// It does not, and the floor this run measured under it (the work no implementation can
    /// skip, as a ratio to the same baseline) misses it too: out of reach on this machine.
    Blocked,
    /// The run could not measure it; why.
    NotMeasured(String),
    /// The row is informative: no target.
    NoTarget,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Met => f.write_str("met"),
            Status::Missed => f.write_str("**missed**"),
            Status::Blocked => f.write_str("**missed**, blocked by its floor"),
            Status::NotMeasured(why) => write!(f, "not measured ({why})"),
            Status::NoTarget => f.write_str("—"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_refuse_what_would_be_nan_or_infinite() {
        assert_eq!(ratio(3.0, 2.0), Ok(1.5));
        assert_eq!(ratio(0.0, 2.0), Ok(0.0));
        assert_eq!(ratio(1.0, 0.0), Err(StatsError::NonPositiveBaseline));
        assert_eq!(ratio(1.0, -1.0), Err(StatsError::NonPositiveBaseline));
        assert_eq!(ratio(f64::NAN, 1.0), Err(StatsError::NotFinite));
        assert_eq!(ratio(1.0, f64::INFINITY), Err(StatsError::NotFinite));
    }

    #[test]
    fn paired_ratios_are_round_by_round() {
        assert_eq!(
            paired_ratios(&[90.0, 50.0, 120.0], &[100.0, 100.0, 100.0]),
            Ok(vec![0.9, 0.5, 1.2])
        );
        assert_eq!(
            paired_ratios(&[1.0, 2.0], &[1.0]),
            Err(StatsError::Unpaired {
                figures: 2,
                baselines: 1
            })
        );
        assert_eq!(
            paired_ratios(&[1.0], &[0.0]),
            Err(StatsError::NonPositiveBaseline)
        );
        assert_eq!(paired_ratios(&[], &[]), Ok(vec![]));
        assert_eq!(
            paired_differences(&[7.5, 8.0], &[6.0, 7.0]),
            Ok(vec![1.5, 1.0])
        );
        assert_eq!(
            paired_differences(&[f64::NAN], &[1.0]),
            Err(StatsError::NotFinite)
        );
    }

    #[test]
    fn the_median_resists_one_outlier_and_the_range_shows_it() {
        // Issue 19's flip: 0.84x and 1.24x in two runs. One disturbed round among five does
        // not move the median.
        let s = Spread::of(&[0.97, 1.24, 0.96, 0.98, 0.84]).unwrap();
        assert_eq!(s.median, 0.97);
        assert_eq!((s.min, s.max, s.count), (0.84, 1.24, 5));
        assert_eq!(s.ratio_text(), "0.97x (0.84-1.24)");
        let even = Spread::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(even.median, 2.5);
        let one = Spread::of(&[0.5]).unwrap();
        assert_eq!((one.median, one.min, one.max), (0.5, 0.5, 0.5));
        assert_eq!(one.ratio_text(), "0.50x (1 round)");
    }

    #[test]
    fn degenerate_inputs_are_typed_errors() {
        assert_eq!(Spread::of(&[]), Err(StatsError::Empty));
        assert_eq!(Spread::of(&[1.0, f64::NAN]), Err(StatsError::NotFinite));
        assert_eq!(percentile(&[], 99.0), Err(StatsError::Empty));
        assert_eq!(
            percentile(&[1.0, f64::INFINITY], 50.0),
            Err(StatsError::NotFinite)
        );
        assert_eq!(percentile(&[1.0], f64::NAN), Err(StatsError::NotFinite));
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Ok(500.0));
        assert_eq!(percentile(&values, 99.0), Ok(990.0));
        assert_eq!(percentile(&values, 100.0), Ok(1000.0));
        assert_eq!(percentile(&values, 0.0), Ok(1.0));
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), Ok(2.0));
    }

    #[test]
    fn status_follows_the_direction_of_the_target() {
        // Higher is better: the protected route at least 0.95x of the bare one.
        let guard = Target::ratio(Bound::AtLeast(0.95), "of bare");
        assert_eq!(guard.judge(Ok(0.95)), Status::Met);
        assert_eq!(guard.judge(Ok(1.10)), Status::Met);
        assert_eq!(guard.judge(Ok(0.94)), Status::Missed);
        // Lower is better: validation at most 1.2x the signature check.
        let validation = Target::ratio(Bound::AtMost(1.2), "");
        assert_eq!(validation.judge(Ok(1.2)), Status::Met);
        assert_eq!(validation.judge(Ok(0.9)), Status::Met);
        assert_eq!(validation.judge(Ok(1.21)), Status::Missed);
        assert_eq!(guard.to_string(), "≥ 0.95x of bare");
        assert_eq!(validation.to_string(), "≤ 1.2x");
        let cpu = Target {
            bound: Bound::AtMost(2.0),
            unit: " µs",
            of: "",
        };
        assert_eq!(cpu.to_string(), "≤ 2 µs");
    }

    #[test]
    fn what_was_not_measured_is_never_met() {
        let t = Target::ratio(Bound::AtLeast(0.8), "");
        let status = t.judge(Spread::of(&[]).map(|s| s.median));
        assert_eq!(status, Status::NotMeasured("no measurement".into()));
        assert_eq!(status.to_string(), "not measured (no measurement)");
        assert_eq!(
            t.judge(Ok(f64::NAN)),
            Status::NotMeasured("a measurement is not a finite number".into())
        );
        assert_eq!(
            t.judge(ratio(1.0, 0.0)),
            Status::NotMeasured("the baseline is not positive".into())
        );
        assert!(!Bound::AtMost(1.0).holds(f64::NAN));
        assert!(!Bound::AtLeast(1.0).holds(f64::INFINITY));
        assert_eq!(Status::Met.to_string(), "met");
        assert_eq!(Status::Missed.to_string(), "**missed**");
        assert_eq!(Status::NoTarget.to_string(), "—");
    }
}
