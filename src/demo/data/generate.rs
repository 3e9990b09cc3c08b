//! The demo rows, drawn from a fixed-seed splitmix64 stream: the same rows on every run.
//! Ids follow time where that is natural (customers by sign-up, orders by date, payments by
//! time), order totals are exact sums of their lines, and payments settle orders.

use std::collections::HashSet;

use super::names::{
    CATEGORIES, CITIES, COMPANY_KINDS, COMPANY_SUFFIXES, COMPANY_WORDS, FIRST_NAMES, LAST_NAMES,
    MODELS, OFFICES,
};
use super::{civil, day, Table, Val};

const SEED: u64 = 0x5047_4153_4B44_454D; // "PGASKDEM"
pub(super) const START: i64 = day(2022, 1, 1);
pub(super) const END: i64 = day(2024, 12, 31);
const Y2024: i64 = day(2024, 1, 1);
const EMPLOYEES: i64 = 40;
const CUSTOMERS: usize = 500;
const ORDERS: usize = 2500;
const ADVANCE_PAYMENTS: usize = 40;
/// Lines per order, drawn uniformly from this list (mean 2.85).
const LINES_PER_ORDER: [i64; 20] = [1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4, 4, 4, 5, 5, 6];
/// Line discounts in percent, drawn uniformly.
const DISCOUNTS: [i64; 11] = [0, 0, 0, 0, 0, 5, 5, 10, 10, 15, 20];
/// Payment methods: name, weight, and the range of days from order to payment.
const METHODS: [(&str, u64, i64, i64); 4] = [
    ("card", 50, 0, 1),
    ("bank_transfer", 30, 5, 30),
    ("paypal", 15, 0, 2),
    ("check", 5, 10, 45),
];

/// Every table, in load order (referenced tables first).
pub(super) fn generate() -> Vec<Table> {
    let mut rng = Rng(SEED);
    let (employees, reps) = employees(&mut rng);
    let (products, catalog) = products(&mut rng);
    let (customers, since) = customers(&mut rng, &reps);
    let (orders, lines, placed) = orders(&mut rng, &since, &catalog);
    let payments = payments(&mut rng, &placed);
    let categories = categories();
    vec![
        offices(),
        employees,
        categories,
        products,
        customers,
        orders,
        lines,
        payments,
    ]
}

/// splitmix64: tiny, and its stream never changes (unlike `rand`'s StdRng across versions).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// An index below `n`, low ones more likely: a few big customers, a few best sellers.
    fn skewed(&mut self, n: usize) -> usize {
        self.below(n).min(self.below(n))
    }

    /// An index drawn with the given weights.
    fn weighted(&mut self, weights: &[u64]) -> usize {
        let mut r = self.next() % weights.iter().sum::<u64>();
        for (i, w) in weights.iter().enumerate() {
            if r < *w {
                return i;
            }
            r -= w;
        }
        0
    }
}

/// A product as orders need it.
struct Product {
    id: i64,
    price: i64,
    /// False for the newest product of each category: it has no orders yet.
    orderable: bool,
    /// Sold until the end of 2023.
    discontinued: bool,
}

/// An order as payments need it.
struct Order {
    id: i64,
    customer: i64,
    day: i64,
    status: &'static str,
    total: i64,
}

fn offices() -> Table {
    let rows = (OFFICES.iter().enumerate())
        .map(|(i, o)| {
            let (id, hq, opened) = (
                Val::Int(i as i64 + 1),
                Val::Bool(i == 0),
                Val::Date(day(o.opened.0, o.opened.1, o.opened.2)),
            );
            vec![
                id,
                Val::text(o.city),
                Val::text(o.country),
                Val::text(o.region),
                hq,
                opened,
            ]
        })
        .collect();
    let columns = "office_id, city, country, region, is_headquarters, opened_on";
    Table::new("offices", columns, rows)
}

/// Employees, and the sales representatives among them (id, office index).
fn employees(rng: &mut Rng) -> (Table, Vec<(i64, usize)>) {
    let offices = OFFICES.len() as i64;
    let mut taken = HashSet::new();
    let (mut rows, mut reps) = (Vec::new(), Vec::new());
    for id in 1..=EMPLOYEES {
        // A CEO, a VP of Sales and a CFO at the HQ, a sales manager per office, then reps.
        let (title, office, boss, (lo, hi)) = match id {
            1 => ("Chief Executive Officer", 0, None, (240_000, 260_000)),
            2 => ("VP of Sales", 0, Some(1), (170_000, 190_000)),
            3 => ("Chief Financial Officer", 0, Some(1), (180_000, 200_000)),
            _ if id < 4 + offices => ("Sales Manager", id - 4, Some(2), (105_000, 140_000)),
            _ => {
                let office = (id - 4 - offices) % offices;
                (
                    "Sales Representative",
                    office,
                    Some(4 + office),
                    (52_000, 88_000),
                )
            }
        };
        if title == "Sales Representative" {
            reps.push((id, office as usize));
        }
        let (first, last) = loop {
            let name = (*rng.pick(&FIRST_NAMES), *rng.pick(&LAST_NAMES));
            if taken.insert(name) {
                break name;
            }
        };
        // The CEO opened the HQ; managers joined within four years of their office opening.
        let (y, m, d) = OFFICES[office as usize].opened;
        let opened = day(y, m, d);
        let hired = match title {
            "Chief Executive Officer" => opened,
            "Sales Representative" => rng.range(opened, day(2024, 6, 30)),
            _ => rng.range(opened, opened + 4 * 365),
        };
        rows.push(vec![
            Val::Int(id),
            Val::text(first),
            Val::text(last),
            Val::Text(format!("{}.{}@papertrail.example", slug(first), slug(last))),
            Val::text(title),
            Val::Int(office + 1),
            boss.map_or(Val::Null, Val::Int),
            Val::Date(hired),
            Val::Dec2(rng.range(lo / 100, hi / 100) * 100 * 100),
        ]);
    }
    let columns = "employee_id, first_name, last_name, email, job_title, office_id, reports_to, \
                   hired_on, annual_salary";
    (Table::new("employees", columns, rows), reps)
}

fn categories() -> Table {
    let rows = (CATEGORIES.iter().enumerate())
        .map(|(i, c)| {
            vec![
                Val::Int(i as i64 + 1),
                Val::text(c.name),
                Val::text(c.description),
            ]
        })
        .collect();
    Table::new("product_categories", "category_id, name, description", rows)
}

/// Twelve products per category: six kinds, each in two models.
fn products(rng: &mut Rng) -> (Table, Vec<Product>) {
    let (mut rows, mut catalog) = (Vec::new(), Vec::new());
    for (c, cat) in CATEGORIES.iter().enumerate() {
        for j in 0..MODELS.len() {
            let id = catalog.len() as i64 + 1;
            let (noun, base) = cat.products[j % cat.products.len()];
            let model = MODELS[(j + c * 5) % MODELS.len()];
            let price = (base * rng.range(80, 130) / 100 / 100).max(1) * 100 - 1; // $x.99
            let discontinued = j == 10 && c % 3 == 0;
            rows.push(vec![
                Val::Int(id),
                Val::Text(format!("{}-{}", cat.code, 1000 + id)),
                Val::Text(format!("{noun} {model}")),
                Val::Int(c as i64 + 1),
                Val::Dec2(price),
                Val::Dec2(price * rng.range(45, 70) / 100),
                Val::Int(if discontinued { 0 } else { rng.range(0, 400) }),
                Val::Bool(discontinued),
            ]);
            let orderable = j != MODELS.len() - 1;
            catalog.push(Product {
                id,
                price,
                orderable,
                discontinued,
            });
        }
    }
    let columns = "product_id, sku, name, category_id, unit_price, unit_cost, units_in_stock, \
                   discontinued";
    (Table::new("products", columns, rows), catalog)
}

/// Customers, and the day each became one (ids follow it). A customer lives in the region of
/// its sales representative's office.
fn customers(rng: &mut Rng, reps: &[(i64, usize)]) -> (Table, Vec<i64>) {
    let mut since: Vec<i64> = (0..CUSTOMERS)
        .map(|_| rng.range(day(2021, 1, 1), day(2024, 9, 30)))
        .collect();
    since.sort_unstable();
    let mut taken = HashSet::new();
    let mut rows = Vec::new();
    for (i, &created) in since.iter().enumerate() {
        let (rep, office) = *rng.pick(reps);
        let cities: Vec<_> = CITIES
            .iter()
            .filter(|c| c.2 == OFFICES[office].region)
            .collect();
        let &&(city, country, _) = rng.pick(&cities);
        let (word, kind) = loop {
            let name = (*rng.pick(&COMPANY_WORDS), *rng.pick(&COMPANY_KINDS));
            if taken.insert(name) {
                break name;
            }
        };
        let (first, last) = (*rng.pick(&FIRST_NAMES), *rng.pick(&LAST_NAMES));
        let (segment, lo, hi) = match rng.below(20) {
            0..=2 => ("enterprise", 50, 250),
            3..=9 => ("mid_market", 10, 50),
            _ => ("small_business", 1, 10),
        };
        let domain = format!("{}{}.example", slug(word), slug(kind));
        rows.push(vec![
            Val::Int(i as i64 + 1),
            Val::Text(format!("{word} {kind} {}", rng.pick(&COMPANY_SUFFIXES))),
            Val::Text(format!("{first} {last}")),
            Val::Text(format!("{}.{}@{domain}", slug(first), slug(last))),
            Val::text(city),
            Val::text(country),
            Val::text(segment),
            Val::Int(rep),
            Val::Dec2(rng.range(lo, hi) * 1000 * 100),
            Val::Date(created),
        ]);
    }
    let columns = "customer_id, company_name, contact_name, email, city, country, segment, \
                   sales_rep_id, credit_limit, created_on";
    (Table::new("customers", columns, rows), since)
}

/// Orders and their lines (order ids follow order dates), and what payments need of them.
fn orders(rng: &mut Rng, since: &[i64], catalog: &[Product]) -> (Table, Table, Vec<Order>) {
    let mut picks: Vec<(i64, usize)> = (0..ORDERS)
        .map(|_| {
            let c = rng.skewed(since.len());
            (order_day(rng, since[c].max(START)), c)
        })
        .collect();
    picks.sort_unstable();
    let (mut rows, mut lines, mut placed) = (Vec::new(), Vec::new(), Vec::new());
    for (k, (day, c)) in picks.into_iter().enumerate() {
        let id = k as i64 + 1;
        // Prices rose: 2022 orders paid 92 % of today's list price, 2023 orders 96 %.
        let price_percent = [92, 96, 100][(civil(day).0 - 2022).clamp(0, 2) as usize];
        let mut chosen = Vec::new();
        let mut net = 0; // ten-thousandths of a dollar: exact
        for line_no in 1..=*rng.pick(&LINES_PER_ORDER) {
            let p = loop {
                // Best sellers, in a shuffled order, but every product sells now and then.
                let rank = match rng.chance(30) {
                    true => rng.below(catalog.len()),
                    false => rng.skewed(catalog.len()),
                };
                let p = &catalog[rank * 37 % catalog.len()];
                let on_sale = p.orderable && !(p.discontinued && day >= Y2024);
                if on_sale && !chosen.contains(&p.id) {
                    break p;
                }
            };
            chosen.push(p.id);
            let qty = if p.price < 2_000 {
                rng.range(1, 24)
            } else {
                rng.range(1, 6)
            };
            let price = p.price * price_percent / 100;
            let discount = *rng.pick(&DISCOUNTS);
            net += qty * price * (100 - discount);
            let mut line: Vec<Val> = [id, line_no, p.id, qty].map(Val::Int).to_vec();
            line.extend([Val::Dec2(price), Val::Dec2(discount)]);
            lines.push(line);
        }
        let subtotal = (net + 50) / 100; // to cents, half up like PostgreSQL's round()
        let shipping = if subtotal >= 50_000 { 0 } else { 995 };
        let status = match END - day {
            _ if rng.chance(4) => "cancelled",
            0..=3 => "pending",
            4..=8 => "processing",
            9..=14 => "shipped",
            _ => "delivered",
        };
        let shipped = match status {
            "shipped" | "delivered" => Val::Date(day + rng.range(1, 4)),
            _ => Val::Null,
        };
        let (customer, total) = (c as i64 + 1, subtotal + shipping);
        rows.push(vec![
            Val::Int(id),
            Val::Int(customer),
            Val::Date(day),
            Val::text(status),
            shipped,
            Val::Dec2(shipping),
            Val::Dec2(total),
        ]);
        placed.push(Order {
            id,
            customer,
            day,
            status,
            total,
        });
    }
    let columns = "order_id, customer_id, order_date, status, shipped_date, shipping_fee, \
                   total_amount";
    let line_columns = "order_id, line_no, product_id, quantity, unit_price, discount";
    let lines = Table::new("order_lines", line_columns, lines);
    (Table::new("orders", columns, rows), lines, placed)
}

/// A day from `from` to the end, with growth from year to year and a busy November/December.
fn order_day(rng: &mut Rng, from: i64) -> i64 {
    loop {
        let d = rng.range(from, END);
        let (y, m, _) = civil(d);
        let year = [70, 85, 100][(y - 2022).clamp(0, 2) as usize];
        let season = match m {
            1 | 8 => 80,
            11 => 130,
            12 => 150,
            _ => 100,
        };
        if rng.range(0, 150 * 100) < year * season {
            return d;
        }
    }
}

/// Most shipped orders paid in full (big ones sometimes in two instalments), a few unpaid,
/// cancelled and pending ones never; plus advance payments tied to no order. Ids follow time.
fn payments(rng: &mut Rng, orders: &[Order]) -> Table {
    let weights = METHODS.map(|m| m.1);
    let mut paid: Vec<(i64, i64, i64, Val, i64, &str)> = Vec::new();
    for o in orders {
        let pays = match o.status {
            "shipped" | "delivered" => !rng.chance(3),
            "processing" => rng.chance(50),
            _ => false,
        };
        if !pays {
            continue;
        }
        let (method, _, lo, hi) = METHODS[rng.weighted(&weights)];
        let day = (o.day + rng.range(lo, hi)).min(END);
        let split = o.total > 100_000 && rng.chance(10);
        let mut add = |day: i64, amount: i64| {
            let secs = rng.range(8 * 3600, 20 * 3600);
            paid.push((day, secs, o.customer, Val::Int(o.id), amount, method));
        };
        if split {
            add(day, o.total / 2);
            add((day + 30).min(END), o.total - o.total / 2);
        } else {
            add(day, o.total);
        }
    }
    for _ in 0..ADVANCE_PAYMENTS {
        let customer = rng.pick(orders).customer;
        let (day, secs) = (rng.range(START, END), rng.range(8 * 3600, 20 * 3600));
        let amount = rng.range(10, 50) * 100 * 100;
        paid.push((day, secs, customer, Val::Null, amount, "bank_transfer"));
    }
    paid.sort_by_key(|p| (p.0, p.1));
    let rows = (paid.into_iter().enumerate())
        .map(|(i, (day, secs, customer, order, amount, method))| {
            let (id, customer, amount) = (
                Val::Int(i as i64 + 1),
                Val::Int(customer),
                Val::Dec2(amount),
            );
            vec![
                id,
                customer,
                order,
                amount,
                Val::Ts(day, secs),
                Val::text(method),
            ]
        })
        .collect();
    let columns = "payment_id, customer_id, order_id, amount, paid_at, method";
    Table::new("payments", columns, rows)
}

/// Lower-case ASCII letters and digits only, for e-mail addresses.
fn slug(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}
