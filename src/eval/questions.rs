//! Question files for `pgask eval`: loads a benchmark's questions and gold SQL into [`Question`]s.
//!
//! Three formats are read, chosen by [`Format`] or by the file's extension:
//!
//! - **JSONL** (`.jsonl`, pgask's own): one object per non-empty line with `question` and
//!   `gold_sql` (a string, or an array of strings that are alternatives), and optionally `db`,
//!   `category`, `id` (string or number) and `allow_extra_columns` (bool). Unknown fields are
//!   ignored so a file can carry notes.
//! - **Spider** (`.json`): the array in Spider's `dev.json`, reading `question`, `query` and
//!   `db_id` (the database name). Spider has no hardness field in `dev.json`, so the category is
//!   `hardness` when an entry has one, else derived from the gold SQL's tokens: `nested` (a
//!   subquery or UNION/INTERSECT/EXCEPT), else `join`, else `aggregate` (GROUP BY or an aggregate
//!   function), else `simple`.
//! - **Defog** (`.csv`, defog-ai/sql-eval): columns `question`, `query`, `db_name`,
//!   `query_category`; other columns are ignored. Following sql-eval's `get_all_minimal_queries`,
//!   a `query` holds several gold queries separated by top-level `;`, and a `{a, b}` group
//!   stands for every non-empty subset of its options in order (`a`, `b`, `a, b`); an empty `{}`
//!   repeats the choice of the nearest group before it (`GROUP BY {}`). Several groups expand to
//!   their cartesian product. Defog compares with the gold columns a subset of the generated
//!   ones, so its questions get `allow_extra_columns`.
//!
//! Every gold query is trimmed of whitespace and trailing semicolons. A question's id is the
//! file's `id` when given, else `<file stem>:<1-based position>`; ids must be unique in a file.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, Tokenizer};

/// Most gold alternatives one question may expand to; braces beyond this are a data error,
/// since every alternative is run against every database variant.
pub const MAX_ALTERNATIVES: usize = 256;

/// Most options in one `{...}` group (their non-empty subsets are expanded).
const MAX_GROUP_OPTIONS: usize = 8;

/// Category for questions whose file gives none.
const UNCATEGORIZED: &str = "uncategorized";

/// One benchmark question with its accepted gold SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Stable key for reports and for comparing runs: the file's id or `<file stem>:<n>`.
    pub id: String,
    /// The natural-language question put to the model.
    pub question: String,
    /// Gold queries; the answer is right when it matches any of them.
    pub gold: Vec<String>,
    /// Database the question is asked against, when the file names one.
    pub db: Option<String>,
    /// Bucket for per-category scores; `uncategorized` when the file gives none.
    pub category: String,
    /// The generated result may have more columns than the gold one (defog's convention).
    pub allow_extra_columns: bool,
}

/// Layout of a question file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// pgask's JSON-lines format.
    Jsonl,
    /// Spider's `dev.json` / `train_spider.json` array.
    Spider,
    /// defog-ai/sql-eval's `questions_gen_*.csv`.
    Defog,
}

impl Format {
    /// The format implied by a file's extension: `.jsonl`, `.json` (Spider) or `.csv` (Defog).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" => Some(Format::Jsonl),
            "json" => Some(Format::Spider),
            "csv" => Some(Format::Defog),
            _ => None,
        }
    }

    /// The name accepted by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Spider => "spider",
            Format::Defog => "defog",
        }
    }
}

impl FromStr for Format {
    type Err = QuestionsError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().as_str() {
            "jsonl" => Ok(Format::Jsonl),
            "spider" => Ok(Format::Spider),
            "defog" => Ok(Format::Defog),
            _ => Err(QuestionsError::UnknownFormatName {
                name: name.to_string(),
            }),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where in a question file a problem is: a line (JSONL, CSV) or an array entry (Spider).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// 1-based line number (for CSV, the line the record starts on).
    Line(u64),
    /// 1-based position in a JSON array.
    Entry(usize),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Line(line) => write!(f, "line {line}"),
            Place::Entry(entry) => write!(f, "entry {entry}"),
        }
    }
}

/// Why a question file could not be loaded; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum QuestionsError {
    #[error("cannot read question file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot tell the format of {} from its extension: expected .jsonl, .json (Spider) or .csv (defog)",
        path.display()
    )]
    UnknownExtension { path: PathBuf },
    #[error("unknown question format {name:?}: expected jsonl, spider or defog")]
    UnknownFormatName { name: String },
    #[error("{}, line {line}: {source}", path.display())]
    Jsonl {
        path: PathBuf,
        line: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} is not a Spider question array: {source}", path.display())]
    Spider {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: {source}", path.display())]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("{}, {place}: `{field}` is empty", path.display())]
    EmptyField {
        path: PathBuf,
        place: Place,
        field: &'static str,
    },
    #[error("{}, {place}: braces in the gold SQL: {problem}", path.display())]
    Braces {
        path: PathBuf,
        place: Place,
        problem: &'static str,
    },
    #[error(
        "{}, {place}: the gold SQL expands to {count} alternatives, over the limit of {max}",
        path.display()
    )]
    TooManyAlternatives {
        path: PathBuf,
        place: Place,
        count: u128,
        max: usize,
    },
    #[error("{}, {place}: question id {id:?} is already used at {first}", path.display())]
    DuplicateId {
        path: PathBuf,
        place: Place,
        id: String,
        first: Place,
    },
}

/// Loads every question of a file, in file order. `format` overrides the extension.
pub fn load(path: &Path, format: Option<Format>) -> Result<Vec<Question>, QuestionsError> {
    let format = match format {
        Some(format) => format,
        None => Format::from_path(path).ok_or_else(|| QuestionsError::UnknownExtension {
            path: path.to_path_buf(),
        })?,
    };
    let text = std::fs::read_to_string(path).map_err(|source| QuestionsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let file = FileCtx {
        path,
        stem: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "questions".to_string()),
    };
    let placed = match format {
        Format::Jsonl => parse_jsonl(&file, text)?,
        Format::Spider => parse_spider(&file, text)?,
        Format::Defog => parse_defog(&file, text)?,
    };
    check_unique_ids(&file, &placed)?;
    Ok(placed.into_iter().map(|(_, q)| q).collect())
}

/// The file being read, for error messages and default ids.
struct FileCtx<'a> {
    path: &'a Path,
    stem: String,
}

impl FileCtx<'_> {
    fn default_id(&self, position: usize) -> String {
        format!("{}:{position}", self.stem)
    }

    fn empty(&self, place: Place, field: &'static str) -> QuestionsError {
        QuestionsError::EmptyField {
            path: self.path.to_path_buf(),
            place,
            field,
        }
    }
}

fn check_unique_ids(
    file: &FileCtx<'_>,
    placed: &[(Place, Question)],
) -> Result<(), QuestionsError> {
    let mut seen: HashMap<&str, Place> = HashMap::with_capacity(placed.len());
    for (place, q) in placed {
        if let Some(first) = seen.insert(&q.id, *place) {
            return Err(QuestionsError::DuplicateId {
                path: file.path.to_path_buf(),
                place: *place,
                id: q.id.clone(),
                first,
            });
        }
    }
    Ok(())
}

fn category_or_default(category: Option<String>) -> String {
    match category {
        Some(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => UNCATEGORIZED.to_string(),
    }
}

/// A gold query without surrounding whitespace and trailing semicolons.
fn trim_gold(sql: &str) -> &str {
    sql.trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace())
}

fn question_text(file: &FileCtx<'_>, place: Place, text: &str) -> Result<String, QuestionsError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(file.empty(place, "question"));
    }
    Ok(text.to_string())
}

// ---- JSONL ------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct JsonlRow {
    question: String,
    gold_sql: JsonlGold,
    #[serde(default)]
    db: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    id: Option<JsonlId>,
    #[serde(default)]
    allow_extra_columns: Option<bool>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonlGold {
    One(String),
    Alternatives(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonlId {
    Text(String),
    Number(serde_json::Number),
}

fn parse_jsonl(file: &FileCtx<'_>, text: &str) -> Result<Vec<(Place, Question)>, QuestionsError> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_no = index as u64 + 1;
        let place = Place::Line(line_no);
        let row: JsonlRow = serde_json::from_str(line).map_err(|source| QuestionsError::Jsonl {
            path: file.path.to_path_buf(),
            line: line_no,
            source,
        })?;
        let golds = match row.gold_sql {
            JsonlGold::One(sql) => vec![sql],
            JsonlGold::Alternatives(all) => all,
        };
        let gold = dedup(golds.iter().map(|g| trim_gold(g)).filter(|g| !g.is_empty()));
        if gold.is_empty() {
            return Err(file.empty(place, "gold_sql"));
        }
        let id = match row.id {
            Some(JsonlId::Text(id)) if !id.trim().is_empty() => id.trim().to_string(),
            Some(JsonlId::Number(n)) => n.to_string(),
            _ => file.default_id(out.len() + 1),
        };
        let question = Question {
            id,
            question: question_text(file, place, &row.question)?,
            gold,
            db: row.db.filter(|d| !d.trim().is_empty()),
            category: category_or_default(row.category),
            allow_extra_columns: row.allow_extra_columns.unwrap_or(false),
        };
        out.push((place, question));
    }
    Ok(out)
}

// ---- Spider -----------------------------------------------------------------------------------

#[derive(Deserialize)]
struct SpiderEntry {
    question: String,
    query: String,
    db_id: String,
    #[serde(default)]
    hardness: Option<String>,
}

fn parse_spider(file: &FileCtx<'_>, text: &str) -> Result<Vec<(Place, Question)>, QuestionsError> {
    let entries: Vec<SpiderEntry> =
        serde_json::from_str(text).map_err(|source| QuestionsError::Spider {
            path: file.path.to_path_buf(),
            source,
        })?;
    let mut out = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let place = Place::Entry(index + 1);
        let gold = trim_gold(&entry.query);
        if gold.is_empty() {
            return Err(file.empty(place, "query"));
        }
        let category = match entry.hardness {
            Some(h) if !h.trim().is_empty() => h.trim().to_string(),
            _ => spider_category(gold).to_string(),
        };
        let question = Question {
            id: file.default_id(index + 1),
            question: question_text(file, place, &entry.question)?,
            gold: vec![gold.to_string()],
            db: Some(entry.db_id).filter(|d| !d.trim().is_empty()),
            category,
            allow_extra_columns: false,
        };
        out.push((place, question));
    }
    Ok(out)
}

/// A coarse difficulty bucket from the gold SQL's tokens (string literals cannot mislead it):
/// `nested`, `join`, `aggregate` or `simple`; `spider` when the SQL does not tokenize.
fn spider_category(sql: &str) -> &'static str {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return "spider";
    };
    let tokens: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let (mut selects, mut set_op, mut join, mut aggregate) = (0usize, false, false, false);
    for (i, token) in tokens.iter().enumerate() {
        let Token::Word(word) = token else { continue };
        match word.keyword {
            Keyword::SELECT => selects += 1,
            Keyword::UNION | Keyword::INTERSECT | Keyword::EXCEPT => set_op = true,
            Keyword::JOIN => join = true,
            Keyword::GROUP => aggregate = true,
            _ => {}
        }
        let is_call = matches!(tokens.get(i + 1), Some(Token::LParen));
        if is_call && word.quote_style.is_none() {
            let name = word.value.to_ascii_lowercase();
            if matches!(name.as_str(), "count" | "sum" | "avg" | "min" | "max") {
                aggregate = true;
            }
        }
    }
    if selects > 1 || set_op {
        "nested"
    } else if join {
        "join"
    } else if aggregate {
        "aggregate"
    } else {
        "simple"
    }
}

// ---- Defog ------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct DefogRow {
    question: String,
    query: String,
    #[serde(default)]
    db_name: Option<String>,
    #[serde(default)]
    query_category: Option<String>,
}

fn parse_defog(file: &FileCtx<'_>, text: &str) -> Result<Vec<(Place, Question)>, QuestionsError> {
    let csv_error = |source| QuestionsError::Csv {
        path: file.path.to_path_buf(),
        source,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(csv_error)?.clone();
    let mut out = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(csv_error)?;
        // Header is line 1, so a record without a position is at least on line index + 2.
        let line = record.position().map_or(index as u64 + 2, |p| p.line());
        let place = Place::Line(line);
        let row: DefogRow = record.deserialize(Some(&headers)).map_err(csv_error)?;
        let gold = defog_gold(&row.query).map_err(|problem| problem.into_error(file, place))?;
        let question = Question {
            id: file.default_id(index + 1),
            question: question_text(file, place, &row.question)?,
            gold,
            db: row.db_name.filter(|d| !d.trim().is_empty()),
            category: category_or_default(row.query_category),
            allow_extra_columns: true,
        };
        out.push((place, question));
    }
    Ok(out)
}

/// Why a defog `query` cell could not be expanded.
#[derive(Debug, PartialEq, Eq)]
enum GoldProblem {
    Empty,
    Braces(&'static str),
    TooMany(u128),
}

impl GoldProblem {
    fn into_error(self, file: &FileCtx<'_>, place: Place) -> QuestionsError {
        let path = file.path.to_path_buf();
        match self {
            GoldProblem::Empty => file.empty(place, "query"),
            GoldProblem::Braces(problem) => QuestionsError::Braces {
                path,
                place,
                problem,
            },
            GoldProblem::TooMany(count) => QuestionsError::TooManyAlternatives {
                path,
                place,
                count,
                max: MAX_ALTERNATIVES,
            },
        }
    }
}

/// All gold alternatives of a defog `query`: split on top-level `;`, then expand braces.
fn defog_gold(query: &str) -> Result<Vec<String>, GoldProblem> {
    let mut all = Vec::new();
    for statement in split_statements(query) {
        all.extend(expand_braces(statement)?);
        if all.len() > MAX_ALTERNATIVES {
            return Err(GoldProblem::TooMany(all.len() as u128));
        }
    }
    let all = dedup(all.iter().map(|q| trim_gold(q)).filter(|q| !q.is_empty()));
    if all.is_empty() {
        return Err(GoldProblem::Empty);
    }
    Ok(all)
}

/// Keeps the first occurrence of each query, in order.
fn dedup<'a>(queries: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for q in queries {
        if !out.iter().any(|seen| seen == q) {
            out.push(q.to_string());
        }
    }
    out
}

/// Byte offsets and characters of `sql` that are SQL code, not inside a '...' string, a
/// "..." identifier, a `--` comment or a (nestable) `/* */` comment. Dollar quoting is not
/// recognised; defog's gold SQL does not use it.
fn code_chars(sql: &str) -> Vec<(usize, char)> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Code,
        Quoted(char),
        LineComment,
        BlockComment(u32),
    }
    let mut out = Vec::with_capacity(sql.len());
    let mut state = State::Code;
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        state = match state {
            State::Code => match (c, next) {
                ('\'' | '"', _) => State::Quoted(c),
                ('-', Some('-')) => {
                    chars.next();
                    State::LineComment
                }
                ('/', Some('*')) => {
                    chars.next();
                    State::BlockComment(1)
                }
                _ => {
                    out.push((i, c));
                    State::Code
                }
            },
            State::Quoted(q) if c == q => {
                if next == Some(q) {
                    chars.next(); // doubled quote: an escaped quote, still inside
                    State::Quoted(q)
                } else {
                    State::Code
                }
            }
            State::Quoted(q) => State::Quoted(q),
            State::LineComment if c == '\n' => State::Code,
            State::LineComment => State::LineComment,
            State::BlockComment(depth) => match (c, next) {
                ('*', Some('/')) => {
                    chars.next();
                    if depth == 1 {
                        State::Code
                    } else {
                        State::BlockComment(depth - 1)
                    }
                }
                ('/', Some('*')) => {
                    chars.next();
                    State::BlockComment(depth + 1)
                }
                _ => State::BlockComment(depth),
            },
        };
    }
    out
}

/// Splits on semicolons outside strings and comments; empty statements are dropped.
fn split_statements(sql: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in code_chars(sql) {
        if c == ';' {
            out.push(&sql[start..i]);
            start = i + 1;
        }
    }
    out.push(&sql[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// A piece of a gold query with braces.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    /// `{a, b}`: options, each trimmed.
    Group(Vec<&'a str>),
    /// `{}`: the choice made for the nearest group before it.
    Repeat,
}

/// Cuts a query into text and brace groups; braces in strings and comments are text.
fn pieces(sql: &str) -> Result<Vec<Piece<'_>>, GoldProblem> {
    let mut out = Vec::new();
    let mut text_start = 0;
    // Inside a group: where the current option started, paren depth, options so far.
    let mut group: Option<(usize, u32, Vec<&str>)> = None;
    for (i, c) in code_chars(sql) {
        match (&mut group, c) {
            (None, '{') => {
                out.push(Piece::Text(&sql[text_start..i]));
                group = Some((i + 1, 0, Vec::new()));
            }
            (None, '}') => return Err(GoldProblem::Braces("`}` without a matching `{`")),
            (Some(_), '{') => return Err(GoldProblem::Braces("nested `{`")),
            (Some((_, depth, _)), '(') => *depth += 1,
            (Some((_, depth, _)), ')') => *depth = depth.saturating_sub(1),
            (Some((option_start, 0, options)), ',') => {
                options.push(sql[*option_start..i].trim());
                *option_start = i + 1;
            }
            (Some((option_start, _, options)), '}') => {
                options.push(sql[*option_start..i].trim());
                let options = std::mem::take(options);
                if options.iter().all(|o| o.is_empty()) {
                    out.push(Piece::Repeat);
                } else if options.iter().any(|o| o.is_empty()) {
                    return Err(GoldProblem::Braces("an empty option inside `{...}`"));
                } else {
                    out.push(Piece::Group(options));
                }
                group = None;
                text_start = i + 1;
            }
            _ => {}
        }
    }
    if group.is_some() {
        return Err(GoldProblem::Braces("`{` without a matching `}`"));
    }
    out.push(Piece::Text(&sql[text_start..]));
    Ok(out)
}

/// Every query a braced gold query stands for (see the module docs).
fn expand_braces(sql: &str) -> Result<Vec<String>, GoldProblem> {
    let pieces = pieces(sql)?;
    // Choices per group: every non-empty subset of its options, in order, joined by ", ".
    let mut choices: Vec<Vec<String>> = Vec::new();
    let mut count: u128 = 1;
    for piece in &pieces {
        if let Piece::Group(options) = piece {
            if options.len() > MAX_GROUP_OPTIONS {
                return Err(GoldProblem::Braces("more than 8 options in one `{...}`"));
            }
            let subsets = subsets(options);
            count = count.saturating_mul(subsets.len() as u128);
            if count > MAX_ALTERNATIVES as u128 {
                return Err(GoldProblem::TooMany(count));
            }
            choices.push(subsets);
        }
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut pick = vec![0usize; choices.len()];
    loop {
        out.push(render(&pieces, &choices, &pick)?);
        // Advance the mixed-radix counter `pick`; the last group varies fastest.
        let mut g = choices.len();
        loop {
            if g == 0 {
                return Ok(out);
            }
            g -= 1;
            pick[g] += 1;
            if pick[g] < choices[g].len() {
                break;
            }
            pick[g] = 0;
        }
    }
}

/// Non-empty subsets of `options` in the order sql-eval produces them: by size, then position.
fn subsets(options: &[&str]) -> Vec<String> {
    let n = options.len();
    let mut masks: Vec<u32> = (1..(1u32 << n)).collect();
    masks.sort_by_key(|&m| {
        let positions: Vec<u32> = (0..n as u32).filter(|b| m & (1 << b) != 0).collect();
        (m.count_ones(), positions)
    });
    masks
        .into_iter()
        .map(|m| {
            let chosen: Vec<&str> = (0..n)
                .filter(|b| m & (1 << b) != 0)
                .map(|b| options[b])
                .collect();
            chosen.join(", ")
        })
        .collect()
}

fn render(
    pieces: &[Piece<'_>],
    choices: &[Vec<String>],
    pick: &[usize],
) -> Result<String, GoldProblem> {
    let mut sql = String::new();
    let mut group = 0;
    let mut last_choice: Option<&str> = None;
    for piece in pieces {
        match piece {
            Piece::Text(text) => sql.push_str(text),
            Piece::Group(_) => {
                let choice = &choices[group][pick[group]];
                sql.push_str(choice);
                last_choice = Some(choice);
                group += 1;
            }
            Piece::Repeat => match last_choice {
                Some(choice) => sql.push_str(choice),
                None => return Err(GoldProblem::Braces("`{}` before any `{...}` group")),
            },
        }
    }
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &tempfile::TempDir, name: &str, content: &str) -> PathBuf {
        let path = dir.path().join(name);
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(content.as_bytes()).unwrap();
        path
    }

    #[test]
    fn jsonl_fields_defaults_and_alternatives() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "mine.jsonl",
            concat!(
                r#"{"question": "How many users?", "gold_sql": "SELECT count(*) FROM users;", "db": "shop", "category": "agg"}"#,
                "\n\n",
                r#"{"question": "Names?", "gold_sql": ["SELECT name FROM users", "SELECT name FROM public.users"], "id": "q-names", "allow_extra_columns": true, "notes": "ignored"}"#,
                "\n",
                r#"{"question": "Ids?", "gold_sql": "SELECT id FROM users", "id": 7, "category": ""}"#,
                "\n",
            ),
        );
        let qs = load(&path, None).unwrap();
        assert_eq!(qs.len(), 3);
        assert_eq!(
            qs[0],
            Question {
                id: "mine:1".into(),
                question: "How many users?".into(),
                gold: vec!["SELECT count(*) FROM users".into()],
                db: Some("shop".into()),
                category: "agg".into(),
                allow_extra_columns: false,
            }
        );
        assert_eq!(qs[1].id, "q-names");
        assert_eq!(qs[1].gold.len(), 2);
        assert!(qs[1].allow_extra_columns);
        assert_eq!(qs[1].db, None);
        assert_eq!(qs[1].category, "uncategorized");
        assert_eq!(qs[2].id, "7");
        assert_eq!(qs[2].category, "uncategorized");
    }

    #[test]
    fn jsonl_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "bad.jsonl",
            "{\"question\": \"a\", \"gold_sql\": \"SELECT 1\"}\n\n{\"question\": \"b\"}\n",
        );
        let err = load(&path, None).unwrap_err();
        assert!(
            matches!(err, QuestionsError::Jsonl { line: 3, .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("bad.jsonl, line 3"), "{msg}");
        assert!(msg.contains("gold_sql"), "{msg}");

        let path = write(&dir, "syntax.jsonl", "{\"question\": \"a\", \n");
        let err = load(&path, None).unwrap_err();
        assert!(
            matches!(err, QuestionsError::Jsonl { line: 1, .. }),
            "{err:?}"
        );

        let path = write(
            &dir,
            "empty.jsonl",
            "{\"question\": \"a\", \"gold_sql\": \" ; \"}\n",
        );
        let err = load(&path, None).unwrap_err();
        assert!(
            matches!(
                err,
                QuestionsError::EmptyField {
                    place: Place::Line(1),
                    field: "gold_sql",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "dup.jsonl",
            "{\"id\": \"x\", \"question\": \"a\", \"gold_sql\": \"SELECT 1\"}\n{\"id\": \"x\", \"question\": \"b\", \"gold_sql\": \"SELECT 2\"}\n",
        );
        let err = load(&path, None).unwrap_err();
        assert!(
            matches!(
                err,
                QuestionsError::DuplicateId {
                    place: Place::Line(2),
                    first: Place::Line(1),
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn format_detection_and_override() {
        assert_eq!(
            Format::from_path(Path::new("a/dev.json")),
            Some(Format::Spider)
        );
        assert_eq!(Format::from_path(Path::new("q.JSONL")), Some(Format::Jsonl));
        assert_eq!(Format::from_path(Path::new("q.csv")), Some(Format::Defog));
        assert_eq!(Format::from_path(Path::new("q.txt")), None);
        assert_eq!("Defog".parse::<Format>().unwrap(), Format::Defog);
        assert!("yaml".parse::<Format>().is_err());

        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "q.txt",
            "{\"question\": \"a\", \"gold_sql\": \"SELECT 1\"}\n",
        );
        assert!(matches!(
            load(&path, None),
            Err(QuestionsError::UnknownExtension { .. })
        ));
        assert_eq!(load(&path, Some(Format::Jsonl)).unwrap().len(), 1);
    }

    #[test]
    fn spider_array_with_derived_categories() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "dev.json",
            r#"[
              {"db_id": "concert_singer", "query": "SELECT count(*) FROM singer", "question": "How many singers?", "query_toks": ["SELECT"], "sql": {"from": {}}},
              {"db_id": "concert_singer", "query": "SELECT name FROM singer WHERE name = 'UNION JOIN'", "question": "Names?"},
              {"db_id": "pets", "query": "SELECT T1.a FROM x AS T1 JOIN y AS T2 ON T1.id = T2.id", "question": "Join?"},
              {"db_id": "pets", "query": "SELECT a FROM x WHERE b IN (SELECT b FROM y)", "question": "Nested?"},
              {"db_id": "pets", "query": "SELECT a FROM x EXCEPT SELECT a FROM y", "question": "Set op?"},
              {"db_id": "pets", "query": "SELECT a FROM x", "question": "Hard?", "hardness": "extra"}
            ]"#,
        );
        let qs = load(&path, None).unwrap();
        let cats: Vec<&str> = qs.iter().map(|q| q.category.as_str()).collect();
        assert_eq!(
            cats,
            ["aggregate", "simple", "join", "nested", "nested", "extra"]
        );
        assert_eq!(qs[0].id, "dev:1");
        assert_eq!(qs[0].db.as_deref(), Some("concert_singer"));
        assert_eq!(qs[0].gold, vec!["SELECT count(*) FROM singer".to_string()]);
        assert!(!qs[0].allow_extra_columns);
    }

    #[test]
    fn spider_missing_field_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "dev.json",
            r#"[{"query": "SELECT 1", "question": "q"}]"#,
        );
        let err = load(&path, None).unwrap_err();
        assert!(matches!(err, QuestionsError::Spider { .. }), "{err:?}");
        assert!(err.to_string().contains("db_id"), "{err}");
    }

    #[test]
    fn real_spider_dev_loads() {
        let path = Path::new("/work/shared/datasets/spider/dev.json");
        if !path.exists() {
            return;
        }
        let qs = load(path, None).unwrap();
        assert_eq!(qs.len(), 1034);
        assert!(qs.iter().all(|q| q.db.is_some() && !q.gold.is_empty()));
        assert!(
            qs.iter().all(|q| q.category != "spider"),
            "every gold tokenizes"
        );
    }

    #[test]
    fn defog_csv_with_multiline_fields_and_extra_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "questions_gen_postgres.csv",
            concat!(
                "question,query,db_name,query_category,instructions\n",
                "\"Which authors, \"\"quoted\"\"?\",\"SELECT {author.name, author.aid} FROM author;\",academic,group_by,\"line one\nline two\"\n",
                "Total per author?,\"SELECT {a.name,a.aid}, sum(x) AS s FROM a GROUP BY {} ORDER BY s;\",academic,,\n",
                "Two golds?,SELECT 1 AS x; SELECT 1.0 AS x,,order_by,\n",
            ),
        );
        let qs = load(&path, None).unwrap();
        assert_eq!(qs.len(), 3);
        assert_eq!(qs[0].id, "questions_gen_postgres:1");
        assert_eq!(qs[0].question, "Which authors, \"quoted\"?");
        assert_eq!(
            qs[0].gold,
            [
                "SELECT author.name FROM author",
                "SELECT author.aid FROM author",
                "SELECT author.name, author.aid FROM author",
            ]
        );
        assert!(qs[0].allow_extra_columns);
        assert_eq!(qs[0].category, "group_by");
        assert_eq!(
            qs[1].gold,
            [
                "SELECT a.name, sum(x) AS s FROM a GROUP BY a.name ORDER BY s",
                "SELECT a.aid, sum(x) AS s FROM a GROUP BY a.aid ORDER BY s",
                "SELECT a.name, a.aid, sum(x) AS s FROM a GROUP BY a.name, a.aid ORDER BY s",
            ]
        );
        assert_eq!(qs[1].category, "uncategorized");
        assert_eq!(qs[2].gold, ["SELECT 1 AS x", "SELECT 1.0 AS x"]);
        assert_eq!(qs[2].db, None);
    }

    #[test]
    fn defog_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "d.csv",
            "question,query,db_name,query_category\nok,SELECT 1,db,c\n\"multi\nline\",\"SELECT {a FROM t\",db,c\n",
        );
        let err = load(&path, None).unwrap_err();
        assert!(
            matches!(
                err,
                QuestionsError::Braces {
                    place: Place::Line(3),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("d.csv, line 3"), "{err}");

        let path = write(&dir, "m.csv", "question,db_name\nq,db\n");
        let err = load(&path, None).unwrap_err();
        assert!(matches!(err, QuestionsError::Csv { .. }), "{err:?}");
        assert!(err.to_string().contains("query"), "{err}");
    }

    #[test]
    fn semicolons_split_only_at_top_level() {
        assert_eq!(
            split_statements("SELECT ';' AS a; SELECT \"x;y\" FROM t -- c;\n; /* ; */ SELECT 2;"),
            vec![
                "SELECT ';' AS a",
                "SELECT \"x;y\" FROM t -- c;",
                "/* ; */ SELECT 2"
            ]
        );
        assert_eq!(
            split_statements("SELECT 'it''s; fine'"),
            vec!["SELECT 'it''s; fine'"]
        );
        assert_eq!(split_statements(" ; ;"), Vec::<&str>::new());
    }

    #[test]
    fn braces_expand_like_sql_eval() {
        assert_eq!(
            defog_gold("SELECT {id, name} FROM users").unwrap(),
            [
                "SELECT id FROM users",
                "SELECT name FROM users",
                "SELECT id, name FROM users"
            ]
        );
        // Braces inside strings and comments are not groups; commas in calls stay in the option.
        assert_eq!(
            defog_gold("SELECT {coalesce(a, b), c} FROM t WHERE j = '{1,2}' -- {x}").unwrap(),
            [
                "SELECT coalesce(a, b) FROM t WHERE j = '{1,2}' -- {x}",
                "SELECT c FROM t WHERE j = '{1,2}' -- {x}",
                "SELECT coalesce(a, b), c FROM t WHERE j = '{1,2}' -- {x}",
            ]
        );
        // Two groups: cartesian product; `{}` repeats the nearest group before it.
        let all = defog_gold("SELECT {a, b}, {c, d} FROM t GROUP BY {}").unwrap();
        assert_eq!(all.len(), 9);
        assert_eq!(all[0], "SELECT a, c FROM t GROUP BY c");
        assert_eq!(all[8], "SELECT a, b, c, d FROM t GROUP BY c, d");
        // Alternatives from `;` and braces together, duplicates removed.
        assert_eq!(
            defog_gold("SELECT {a} FROM t; SELECT a FROM t;").unwrap(),
            ["SELECT a FROM t"]
        );
    }

    #[test]
    fn brace_problems_are_reported() {
        assert!(matches!(
            defog_gold("SELECT {a FROM t"),
            Err(GoldProblem::Braces(_))
        ));
        assert!(matches!(
            defog_gold("SELECT a} FROM t"),
            Err(GoldProblem::Braces(_))
        ));
        assert!(matches!(
            defog_gold("SELECT {a, {b}} FROM t"),
            Err(GoldProblem::Braces(_))
        ));
        assert!(matches!(
            defog_gold("SELECT {a,} FROM t"),
            Err(GoldProblem::Braces(_))
        ));
        assert!(matches!(
            defog_gold("SELECT x FROM t GROUP BY {}"),
            Err(GoldProblem::Braces(_))
        ));
        assert!(matches!(
            defog_gold("SELECT {a,b,c,d,e}, {f,g,h,i,j} FROM t"),
            Err(GoldProblem::TooMany(961))
        ));
        assert_eq!(defog_gold(" ; "), Err(GoldProblem::Empty));
    }
}
